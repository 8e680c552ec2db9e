"""Upstream's `jupyter_client.provisioning` (pending: lifecycle)."""

from __future__ import annotations

from typing import Any

from jupyter_client._pending import pending_class, pending_function

KernelProvisionerBase: Any = pending_class("KernelProvisionerBase", "lifecycle", "provisioning")
LocalProvisioner: Any = pending_class("LocalProvisioner", "lifecycle", "provisioning")
KernelProvisionerFactory: Any = pending_class("KernelProvisionerFactory", "lifecycle", "provisioning")
