"""Kernel provisioners (upstream's ``jupyter_client.provisioning``).

``LocalProvisioner`` is imported on first use (PEP 562): it pulls in trio and the supervision
tree, which a manager needs only once it starts a kernel, not when it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_client._lazy_names import lazy_names
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

if TYPE_CHECKING:
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner


__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {"LocalProvisioner": "jupyter_client.provisioning.local_provisioner:LocalProvisioner"},
)

__all__ = ["KernelProvisionerBase", "KernelProvisionerFactory", "LocalProvisioner"]
