"""Kernel provisioners (upstream's ``jupyter_client.provisioning``)."""

from __future__ import annotations

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

__all__ = ["KernelProvisionerBase", "KernelProvisionerFactory", "LocalProvisioner"]
