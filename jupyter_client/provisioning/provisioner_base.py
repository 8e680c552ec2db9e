"""``KernelProvisionerBase``: the interface between a kernel manager and a kernel's process.

Same shape as upstream so third-party provisioners (gateway_provisioners, docker, ssh ...)
subclass it unchanged: every lifecycle operation is an ``async`` method, the manager calls
them, and the provisioner decides how the kernel actually runs. The concrete helpers
(``pre_launch`` environment templating, the info round-trip) behave as upstream's.
"""

from __future__ import annotations

import os
from abc import ABC, ABCMeta, abstractmethod
from typing import Any

from traitlets import Instance, MetaHasTraits, Unicode
from traitlets.config import LoggingConfigurable

from jupyter_client._lazy_names import upstream_names
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.protocol.kernelspec import finalize_kernel_env, kernel_env

__all__ = ["KernelProvisionerBase", "KernelProvisionerMeta"]


class KernelProvisionerMeta(ABCMeta, MetaHasTraits):
    """Metaclass reconciling ``ABCMeta`` with traitlets' ``MetaHasTraits``."""


class KernelProvisionerBase(ABC, LoggingConfigurable, metaclass=KernelProvisionerMeta):
    """Abstract base of kernel provisioners; one instance serves one kernel (across restarts).

    ``parent`` is the kernel manager. Subclasses implement the abstract methods; the manager
    never touches the process itself.
    """

    kernel_spec: Any = Instance("jupyter_client.kernelspec.KernelSpec", allow_none=True)
    kernel_id: str | None = Unicode(None, allow_none=True)  # type: ignore[assignment]
    # Upstream keeps this class-level (shared until an instance assigns its own); we assign a
    # fresh dict per instance in __init__ so two kernels can never see each other's ports.
    connection_info: KernelConnectionInfo = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection_info = {}

    # -- abstract ---------------------------------------------------------------------------
    @property
    @abstractmethod
    def has_process(self) -> bool:
        """True while a kernel process exists (started and not yet reaped)."""

    @abstractmethod
    async def poll(self) -> int | None:
        """``None`` while the kernel runs, else its exit code."""

    @abstractmethod
    async def wait(self) -> int | None:
        """Wait for the kernel to exit and return its exit code."""

    @abstractmethod
    async def send_signal(self, signum: int) -> None:
        """Deliver ``signum`` to the kernel (process group where possible)."""

    @abstractmethod
    async def kill(self, restart: bool = False) -> None:
        """Kill the kernel (SIGKILL)."""

    @abstractmethod
    async def terminate(self, restart: bool = False) -> None:
        """Ask the OS to terminate the kernel (SIGTERM)."""

    @abstractmethod
    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Start the kernel from ``cmd`` and return its connection info."""

    @abstractmethod
    async def cleanup(self, restart: bool = False) -> None:
        """Release what the kernel used (ports, files) once it is gone."""

    # -- concrete defaults ------------------------------------------------------------------
    async def shutdown_requested(self, restart: bool = False) -> None:
        """Hook: the manager has just sent ``shutdown_request``."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Build the kernel's environment: launch env plus the kernelspec's ``env``.

        Kernelspec values are ``string.Template``s over the launch env (``$VAR``/``${VAR}``;
        unknown names stay as written) and override the launch env
        (:func:`~jupyter_client.protocol.kernelspec.kernel_env`, which ``jupyter-supervisor``
        uses too); then upstream's ``_finalize_env`` hook.
        """
        spec_env = self.kernel_spec.env if self.kernel_spec is not None else {}
        env = kernel_env(kwargs.pop("env", os.environ), spec_env, language=None)
        self._finalize_env(env)
        kwargs["env"] = env
        return kwargs

    async def post_launch(self, **kwargs: Any) -> None:
        """Hook: the kernel has been launched."""

    async def get_provisioner_info(self) -> dict[str, Any]:
        """What is needed to re-attach to this kernel later (see ``load_provisioner_info``)."""
        return {"kernel_id": self.kernel_id, "connection_info": self.connection_info}

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        """Restore what ``get_provisioner_info`` returned."""
        self.kernel_id = provisioner_info["kernel_id"]
        self.connection_info = provisioner_info["connection_info"]

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        """Seconds the manager grants a polite shutdown (the provisioner may extend it)."""
        return recommended

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        """Seconds a kernel must stay alive before a start counts as successful."""
        return recommended

    def resolve_path(self, path: str) -> str | None:
        """A path as the kernel sees it, or None if unknown (remote provisioners)."""
        return None

    def _finalize_env(self, env: dict[str, str]) -> None:
        """Python kernels must not inherit ``PYTHONEXECUTABLE`` (it confuses the kernel venv)."""
        finalize_kernel_env(env, getattr(self.kernel_spec, "language", ""))


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
