"""Jupyter protocol client and kernel management, built on trio actors.

The same names as upstream ``jupyter_client`` 8.x, at the same paths, so existing code works
unchanged. See docs/compatibility.md for what differs on purpose.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from jupyter_client import _zmq_asyncio
from jupyter_client._lazy_names import lazy_names
from jupyter_client._version import (
    __version__,
    protocol_version,
    protocol_version_info,
    version_info,
)

# A library's loggers get no handler of ours: what we log reaches the application's logging
# configuration, and nothing is printed by Python's last-resort handler when it has none.
logging.getLogger("jupyter_client").addHandler(logging.NullHandler())

# Upstream's import leaves `zmq.asyncio` reachable as `zmq.asyncio`; ours makes it so lazily.
_zmq_asyncio.install()

# Names are imported on first use (PEP 562), so `import jupyter_client` stays cheap for tools
# that need one corner of it (the supervisor CLI, a kernel's own imports). `dir()` still lists
# everything upstream exposes.
_NAMES = {
    "AsyncKernelClient": "jupyter_client.asynchronous",
    "BlockingKernelClient": "jupyter_client.blocking",
    "KernelClient": "jupyter_client.client",
    "KernelConnectionInfo": "jupyter_client.connect",
    "KernelDiedError": "jupyter_client._errors",
    "LocalPortCache": "jupyter_client.connect",
    "find_connection_file": "jupyter_client.connect",
    "tunnel_to_kernel": "jupyter_client.connect",
    "write_connection_file": "jupyter_client.connect",
    "launch_kernel": "jupyter_client.launcher",
    "AsyncKernelManager": "jupyter_client.manager",
    "KernelManager": "jupyter_client.manager",
    "run_kernel": "jupyter_client.manager",
    "AsyncMultiKernelManager": "jupyter_client.multikernelmanager",
    "MultiKernelManager": "jupyter_client.multikernelmanager",
    "KernelProvisionerBase": "jupyter_client.provisioning",
    "LocalProvisioner": "jupyter_client.provisioning",
}
_SUBMODULES = (
    "adapter",
    "asynchronous",
    "blocking",
    "channels",
    "channelsabc",
    "client",
    "clientabc",
    "connect",
    "ioloop",
    "jsonutil",
    "kernelspec",
    "launcher",
    "localinterfaces",
    "manager",
    "managerabc",
    "multikernelmanager",
    "provisioning",
    "restarter",
    "session",
    "ssh",
    "utils",
)
__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        **{name: f"{module}:{name}" for name, module in _NAMES.items()},
        **{name: f"jupyter_client.{name}" for name in _SUBMODULES},
    },
)


if TYPE_CHECKING:
    from jupyter_client import (
        adapter,
        asynchronous,
        blocking,
        channels,
        channelsabc,
        client,
        clientabc,
        connect,
        jsonutil,
        kernelspec,
        launcher,
        localinterfaces,
        manager,
        managerabc,
        multikernelmanager,
        provisioning,
        session,
        utils,
    )
    from jupyter_client._errors import KernelDiedError
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.blocking import BlockingKernelClient
    from jupyter_client.client import KernelClient
    from jupyter_client.connect import (
        KernelConnectionInfo,
        LocalPortCache,
        find_connection_file,
        tunnel_to_kernel,
        write_connection_file,
    )
    from jupyter_client.launcher import launch_kernel
    from jupyter_client.manager import AsyncKernelManager, KernelManager, run_kernel
    from jupyter_client.multikernelmanager import AsyncMultiKernelManager, MultiKernelManager
    from jupyter_client.provisioning import KernelProvisionerBase, LocalProvisioner

__all__ = [
    "AsyncKernelClient",
    "AsyncKernelManager",
    "AsyncMultiKernelManager",
    "BlockingKernelClient",
    "KernelClient",
    "KernelConnectionInfo",
    "KernelDiedError",
    "KernelManager",
    "KernelProvisionerBase",
    "LocalPortCache",
    "LocalProvisioner",
    "MultiKernelManager",
    "__version__",
    "adapter",
    "asynchronous",
    "blocking",
    "channels",
    "channelsabc",
    "client",
    "clientabc",
    "connect",
    "find_connection_file",
    "jsonutil",
    "kernelspec",
    "launch_kernel",
    "launcher",
    "localinterfaces",
    "manager",
    "managerabc",
    "multikernelmanager",
    "protocol_version",
    "protocol_version_info",
    "provisioning",
    "run_kernel",
    "session",
    "tunnel_to_kernel",
    "utils",
    "version_info",
    "write_connection_file",
]
