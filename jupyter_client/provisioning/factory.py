"""``KernelProvisionerFactory``: which provisioner class serves a kernelspec.

Provisioners are registered as entry points in ``jupyter_client.kernel_provisioners``; a
kernelspec picks one with ``metadata.kernel_provisioner.provisioner_name`` (plus optional
``config`` passed to the constructor), otherwise the configurable default
(``local-provisioner``, or ``$JUPYTER_DEFAULT_PROVISIONER_NAME``) is used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets import Unicode, default
from traitlets.config import SingletonConfigurable

from jupyter_client._lazy_names import lazy_names
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

if TYPE_CHECKING:  # importlib.metadata is imported when entry points are read (import cost)
    from importlib.metadata import EntryPoint

__all__ = ["KernelProvisionerFactory"]


# Upstream's module imports these (code imports them from here); ours loads
# ``importlib.metadata`` (about 30 ms) only when one is asked for. Likewise upstream's other
# module-level imports.
__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        "EntryPoint": "importlib.metadata:EntryPoint",
        "entry_points": "importlib.metadata:entry_points",
        "cast": "typing:cast",
        "getenv": "os:getenv",
        "glob": "glob",
        "path": "os.path",
    },
)

_LOCAL = "local-provisioner"


class KernelProvisionerFactory(SingletonConfigurable):
    """Creates provisioner instances for kernelspecs from the registered entry points."""

    GROUP_NAME = "jupyter_client.kernel_provisioners"
    provisioners: ClassVar[dict[str, EntryPoint]] = {}
    #: The environment variable naming the default provisioner (upstream's attribute).
    default_provisioner_name_env = "JUPYTER_DEFAULT_PROVISIONER_NAME"

    default_provisioner_name = Unicode(
        config=True,
        help="The provisioner used when a kernelspec names none "
        "(env JUPYTER_DEFAULT_PROVISIONER_NAME, default 'local-provisioner').",
    )

    @default("default_provisioner_name")
    def _default_provisioner_name_default(self) -> str:
        return os.getenv(self.default_provisioner_name_env, _LOCAL)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.GROUP_NAME):
            self.provisioners[ep.name] = ep

    def is_provisioner_available(self, kernel_spec: Any) -> bool:
        """Whether the spec's provisioner can be loaded; logs a warning naming it if not."""
        name = self._get_provisioner_config(kernel_spec).get("provisioner_name", "")
        if name in self.provisioners:
            return True
        try:
            self.provisioners[name] = self._get_provisioner(name)
        except Exception:
            display = getattr(kernel_spec, "display_name", "") or "unknown"
            self.log.warning(
                f"Provisioner '{name}' for kernel '{display}' is not available; "
                "the kernel will be hidden."
            )
            return False
        return True

    def create_provisioner_instance(
        self, kernel_id: str, kernel_spec: Any, parent: Any
    ) -> KernelProvisionerBase:
        """A provisioner for ``kernel_spec``; ModuleNotFoundError if its name is unknown."""
        config = self._get_provisioner_config(kernel_spec)
        name = str(config.get("provisioner_name"))
        if name not in self.provisioners:
            try:
                self.provisioners[name] = self._get_provisioner(name)
            except Exception:
                raise ModuleNotFoundError(
                    f"Kernel provisioner '{name}' has not been registered."
                ) from None
        cls = self.provisioners[name].load()
        self.log.debug(f"Instantiating kernel '{kernel_spec.display_name}' with '{name}'")
        instance: KernelProvisionerBase = cls(
            kernel_id=kernel_id,
            kernel_spec=kernel_spec,
            parent=parent,
            **config.get("config", {}),
        )
        return instance

    def names_local_provisioner(self, kernel_spec: Any) -> bool:
        """Whether ``kernel_spec`` is run by our ``local-provisioner`` (an extension of ours:
        other provisioners are third-party asyncio code, run on an asyncio loop)."""
        return self._get_provisioner_config(kernel_spec).get("provisioner_name") == _LOCAL

    async def create_where_it_runs(
        self, kernel_id: str, kernel_spec: Any, parent: Any
    ) -> KernelProvisionerBase:
        """``create_provisioner_instance``, called where the provisioner's coroutines will
        run (an extension of ours): a third-party provisioner may bind to the loop it is made
        in (tornado's ``PeriodicCallback`` in gateway_provisioners' ResponseManager), so from
        trio (and the blocking handles) it is made on the asyncio thread."""
        from jupyter_client._lifecycle import _library

        if _library() != "trio" or self.names_local_provisioner(kernel_spec):
            return self.create_provisioner_instance(kernel_id, kernel_spec, parent)
        from jupyter_client.actors.aioloop import run_in_asyncio

        async def made() -> KernelProvisionerBase:
            return self.create_provisioner_instance(kernel_id, kernel_spec, parent)

        return await run_in_asyncio(made)

    def _get_provisioner_config(self, kernel_spec: Any) -> dict[str, Any]:
        """The spec's ``kernel_provisioner`` metadata, or the default provisioner with no config.

        Like upstream, an empty ``config`` is added to the spec's metadata when missing.
        """
        metadata = getattr(kernel_spec, "metadata", None) or {}
        prov = metadata.get("kernel_provisioner")
        if isinstance(prov, dict) and prov.get("provisioner_name"):
            prov.setdefault("config", {})
            return prov
        return {"provisioner_name": self.default_provisioner_name, "config": {}}

    def get_provisioner_entries(self) -> dict[str, str]:
        """Registered provisioners as ``{name: "module:attr"}``."""
        return {name: ep.value for name, ep in self.provisioners.items()}

    @staticmethod
    def _get_provisioner(name: str) -> EntryPoint:
        """The entry point for ``name``; a stale install missing ours gets it fabricated."""
        from importlib.metadata import EntryPoint, entry_points

        found = entry_points(group=KernelProvisionerFactory.GROUP_NAME, name=name)
        for ep in found:
            return ep
        if name == _LOCAL:
            return EntryPoint(
                name=_LOCAL,
                value="jupyter_client.provisioning:LocalProvisioner",
                group=KernelProvisionerFactory.GROUP_NAME,
            )
        raise RuntimeError("Was unable to find a provisioner")
