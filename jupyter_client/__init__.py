"""Jupyter protocol client and kernel management, built on trio actors.

The same names as upstream ``jupyter_client`` 8.x, at the same paths, so existing code works
unchanged. See docs/compatibility.md for what differs on purpose.
"""

from __future__ import annotations

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
from jupyter_client._version import (
    __version__,
    protocol_version,
    protocol_version_info,
    version_info,
)
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
