"""Kernel provisioners (upstream's ``jupyter_client.provisioning``).

``LocalProvisioner`` is imported on first use (PEP 562): it pulls in trio and the supervision
tree, which a manager needs only once it starts a kernel, not when it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

if TYPE_CHECKING:
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner


def __getattr__(name: str) -> Any:
    if name == "LocalProvisioner":
        from jupyter_client.provisioning.local_provisioner import LocalProvisioner

        globals()[name] = LocalProvisioner
        return LocalProvisioner
    raise AttributeError(f"module 'jupyter_client.provisioning' has no attribute {name!r}")


__all__ = ["KernelProvisionerBase", "KernelProvisionerFactory", "LocalProvisioner"]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
