"""Kernelspecs: ``KernelSpec``, ``KernelSpecManager`` and the module-level helpers.

The traitlets classes keep upstream's names, traits and method signatures; parsing, name
rules and directory scanning are in :mod:`jupyter_client.protocol.kernelspec`. Differences
that are deliberate: a broken ``kernel.json`` is skipped with a logged warning in listings
and raises :class:`~jupyter_client.protocol.kernelspec.KernelSpecError` (a ``ValueError``
naming file and field) when requested by name.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any

from jupyter_core.paths import SYSTEM_JUPYTER_PATH, jupyter_data_dir, jupyter_path
from traitlets import Bool, CaselessStrEnum, Dict, HasTraits, List, Set, Type, Unicode, observe
from traitlets.config import LoggingConfigurable

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol import kernelspec as _ks
from jupyter_client.protocol.kernelspec import (
    KERNEL_NAME_DESCRIPTION,
    NATIVE_KERNEL_NAME,
    KernelSpecError,
)

__all__ = [
    "NATIVE_KERNEL_NAME",
    "KernelSpec",
    "KernelSpecError",
    "KernelSpecManager",
    "NoSuchKernel",
    "find_kernel_specs",
    "get_kernel_spec",
    "install_kernel_spec",
    "install_native_kernel_spec",
]

_kernel_name_description = KERNEL_NAME_DESCRIPTION
_is_valid_kernel_name = _ks.is_valid_kernel_name
_is_kernel_dir = _ks.is_kernel_dir
_list_kernels_in = _ks.list_kernels_in

PROVISIONER_GROUP = "jupyter_client.kernel_provisioners"
_MODEL_FIELDS = frozenset(_ks.KernelSpecModel.__struct_fields__)


class KernelSpec(HasTraits):
    """A kernel specification: how to start a kernel and what it offers."""

    argv: List[str] = List()
    name = Unicode()
    mimetype = Unicode()
    display_name = Unicode()
    language = Unicode()
    kernel_protocol_version = Unicode()
    env = Dict()
    resource_dir = Unicode()
    interrupt_mode = CaselessStrEnum(["message", "signal"], default_value="signal")
    metadata = Dict()

    @classmethod
    def from_resource_dir(cls, resource_dir: str) -> KernelSpec:
        """Build from ``<resource_dir>/kernel.json``; broken files → ``KernelSpecError``."""
        model, raw = _ks.load_kernel_json_with_raw(resource_dir)
        # Subclasses may declare extra traits that upstream fills from kernel.json too.
        extra = {
            k: v for k, v in raw.items() if k in cls.class_trait_names() and k != "resource_dir"
        }
        return cls(
            **{k: v for k, v in extra.items() if k not in _MODEL_FIELDS},
            resource_dir=resource_dir,
            argv=model.argv,
            display_name=model.display_name,
            language=model.language,
            interrupt_mode=model.interrupt_mode,
            env=model.env,
            metadata=model.metadata,
            kernel_protocol_version=model.kernel_protocol_version,
            mimetype=model.mimetype,
        )

    def to_dict(self) -> dict[str, Any]:
        """The serialisable spec (upstream key order; no name or resource_dir)."""
        return {
            "argv": self.argv,
            "env": self.env,
            "display_name": self.display_name,
            "language": self.language,
            "interrupt_mode": self.interrupt_mode,
            "metadata": self.metadata,
            "kernel_protocol_version": self.kernel_protocol_version,
        }

    def to_json(self) -> str:
        """``to_dict()`` as JSON (the format of ``kernel.json``)."""
        return json.dumps(self.to_dict())


class NoSuchKernel(KeyError):  # upstream name
    """No kernelspec with this name (or its provisioner is unavailable)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"No such kernel named {self.name}"


def _provisioner_available(spec: KernelSpec, parent: Any, log: Any) -> bool:
    """Whether the spec's provisioner can be loaded (defaults to ``local-provisioner``)."""
    try:
        from jupyter_client.provisioning import KernelProvisionerFactory

        return bool(KernelProvisionerFactory.instance(parent=parent).is_provisioner_available(spec))
    except (ImportError, AttributeError, NotImplementedError):
        pass  # factory not available yet: check the entry point registry directly
    prov = spec.metadata.get("kernel_provisioner", {})
    name = prov.get("provisioner_name", "local-provisioner") if isinstance(prov, dict) else None
    from importlib.metadata import entry_points  # not at import (import cost)

    if name in {ep.name for ep in entry_points(group=PROVISIONER_GROUP)}:
        return True
    log.error(f"Kernel provisioner '{name}' has not been registered.")
    return False


class KernelSpecManager(LoggingConfigurable):
    """Finds, reads, installs and removes kernelspecs across the Jupyter data path."""

    kernel_spec_class = Type(
        KernelSpec,
        config=True,
        help="The kernel spec class. This is configurable to allow subclassing.",
    )
    ensure_native_kernel = Bool(
        True,
        config=True,
        help="If there is no Python kernelspec registered and the IPython kernel is available,"
        " ensure it is added to the spec list.",
    )
    data_dir = Unicode()

    def _data_dir_default(self) -> str:
        return jupyter_data_dir()

    user_kernel_dir = Unicode()

    def _user_kernel_dir_default(self) -> str:
        return os.path.join(self.data_dir, "kernels")

    whitelist = Set(config=True, help="Deprecated, use `KernelSpecManager.allowed_kernelspecs`")
    allowed_kernelspecs = Set(
        config=True,
        help="List of allowed kernel names. By default, all installed kernels are allowed.",
    )
    kernel_dirs: List[str] = List(
        help="List of kernel directories to search. The first occurrence of a name wins."
    )
    _deprecated_aliases = {"whitelist": ("allowed_kernelspecs", "7.0")}

    @observe("whitelist")
    def _deprecated_trait(self, change: Any) -> None:
        old, (new, version) = change.name, self._deprecated_aliases[change.name]
        if getattr(self, new) != change.new:
            self.log.warning(
                f"{self.__class__.__name__}.{old} is deprecated in jupyter_client {version},"
                f" use {self.__class__.__name__}.{new} instead"
            )
            setattr(self, new, change.new)

    def _kernel_dirs_default(self) -> list[str]:
        dirs = jupyter_path("kernels")
        try:
            from IPython.paths import get_ipython_dir
        except ModuleNotFoundError:
            return dirs
        dirs.append(os.path.join(get_ipython_dir(), "kernels"))
        return dirs

    def _native_resources(self) -> str | None:
        try:
            from ipykernel.kernelspec import RESOURCES
        except ImportError:
            return None
        return str(RESOURCES)

    def find_kernel_specs(self) -> dict[str, str]:
        """``{name: resource_dir}``; earlier kernel dirs win; rescans on every call."""
        found: dict[str, str] = {}
        for kernel_dir in self.kernel_dirs:
            for name, path in _list_kernels_in(kernel_dir).items():
                if name not in found:
                    self.log.debug("Found kernel %s in %s", name, kernel_dir)
                    found[name] = path
        if self.ensure_native_kernel and NATIVE_KERNEL_NAME not in found:
            native = self._native_resources()
            if native is None:
                self.log.warning("Native kernel (%s) is not available", NATIVE_KERNEL_NAME)
            else:
                found[NATIVE_KERNEL_NAME] = native
        if self.allowed_kernelspecs:
            found = {k: v for k, v in found.items() if k in self.allowed_kernelspecs}
        return found

    def _get_kernel_spec_by_name(self, kernel_name: str, resource_dir: str) -> KernelSpec:
        spec: KernelSpec | None = None
        if kernel_name == NATIVE_KERNEL_NAME and resource_dir == self._native_resources():
            from ipykernel.kernelspec import get_kernel_dict

            spec = self.kernel_spec_class(resource_dir=resource_dir, **get_kernel_dict())
        if spec is None:
            spec = self.kernel_spec_class.from_resource_dir(resource_dir)
        if not _provisioner_available(spec, self.parent, self.log):
            raise NoSuchKernel(kernel_name)
        return spec

    def _find_spec_directory(self, kernel_name: str) -> str | None:
        found = _ks.find_spec_dir([d for d in self.kernel_dirs if os.path.isdir(d)], kernel_name)
        if found is None and kernel_name == NATIVE_KERNEL_NAME:
            return self._native_resources()
        return found

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """The named spec; unknown → :class:`NoSuchKernel`, broken file → ``KernelSpecError``."""
        if not _is_valid_kernel_name(kernel_name):
            self.log.warning(f"Kernelspec name {kernel_name} is invalid: {KERNEL_NAME_DESCRIPTION}")
        resource_dir = self._find_spec_directory(kernel_name.lower())
        if resource_dir is None:
            raise NoSuchKernel(kernel_name)
        return self._get_kernel_spec_by_name(kernel_name, resource_dir)

    def get_all_specs(self) -> dict[str, Any]:
        """``{name: {"resource_dir": dir, "spec": spec.to_dict()}}``, skipping broken specs."""
        result: dict[str, Any] = {}
        for name, resource_dir in self.find_kernel_specs().items():
            try:
                if type(self) is KernelSpecManager:
                    spec = self._get_kernel_spec_by_name(name, resource_dir)
                else:  # subclasses may only override the public lookups
                    spec = self.get_kernel_spec(name)
            except NoSuchKernel:
                continue
            except KernelSpecError as e:
                self.log.warning("Skipping kernelspec %r: %s", name, e)
                continue
            except Exception:
                self.log.warning("Error loading kernelspec %r", name, exc_info=True)
                continue
            result[name] = {"resource_dir": resource_dir, "spec": spec.to_dict()}
        return result

    def remove_kernel_spec(self, name: str) -> str:
        """Delete a spec dir (or symlink) by name; returns the path. Unknown → ``KeyError``."""
        saved = self.ensure_native_kernel
        try:
            self.ensure_native_kernel = False
            specs = self.find_kernel_specs()
        finally:
            self.ensure_native_kernel = saved
        spec_dir = specs[name]
        self.log.debug("Removing %s", spec_dir)
        if os.path.islink(spec_dir):
            os.remove(spec_dir)
        else:
            shutil.rmtree(spec_dir)
        return spec_dir

    def _get_destination_dir(
        self, kernel_name: str, user: bool = False, prefix: str | None = None
    ) -> str:
        if user:
            return os.path.join(self.user_kernel_dir, kernel_name)
        if prefix:
            return os.path.join(os.path.abspath(prefix), "share", "jupyter", "kernels", kernel_name)
        return os.path.join(SYSTEM_JUPYTER_PATH[0], "kernels", kernel_name)

    def install_kernel_spec(
        self,
        source_dir: str,
        kernel_name: str | None = None,
        user: bool = False,
        replace: bool | None = None,
        prefix: str | None = None,
    ) -> str:
        """Copy a spec dir into the user, prefix or system kernel dir; returns the destination.

        An existing installation is always replaced (``replace`` is deprecated and ignored).
        """
        source_dir = source_dir.rstrip("/\\")
        kernel_name = (kernel_name or os.path.basename(source_dir)).lower()
        if not _is_valid_kernel_name(kernel_name):
            raise ValueError(f"Invalid kernel name {kernel_name!r}.  {KERNEL_NAME_DESCRIPTION}")
        if user and prefix:
            raise ValueError("Can't specify both user and prefix. Please choose one or the other.")
        if replace is not None:
            warnings.warn(
                "replace is ignored. Installing a kernelspec always replaces an existing"
                " installation",
                DeprecationWarning,
                stacklevel=2,
            )
        destination = self._get_destination_dir(kernel_name, user=user, prefix=prefix)
        self.log.debug("Installing kernelspec in %s", destination)
        kernel_dir = os.path.dirname(destination)
        if kernel_dir not in self.kernel_dirs:
            self.log.warning(
                "Installing to %s, which is not in %s. The kernelspec may not be found.",
                kernel_dir,
                self.kernel_dirs,
            )
        if os.path.isdir(destination):
            self.log.info("Removing existing kernelspec in %s", destination)
            shutil.rmtree(destination)
        shutil.copytree(source_dir, destination)
        self.log.info("Installed kernelspec %s in %s", kernel_name, destination)
        return destination

    def install_native_kernel_spec(self, user: bool = False) -> None:
        """Deprecated: delegates to ``ipykernel.kernelspec.install``."""
        warnings.warn(
            "install_native_kernel_spec is deprecated. Use ipykernel.kernelspec import install.",
            stacklevel=2,
        )
        from ipykernel.kernelspec import install

        install(self, user=user)


def find_kernel_specs() -> dict[str, str]:
    """``KernelSpecManager().find_kernel_specs()``."""
    return KernelSpecManager().find_kernel_specs()


def get_kernel_spec(kernel_name: str) -> KernelSpec:
    """``KernelSpecManager().get_kernel_spec(kernel_name)``."""
    return KernelSpecManager().get_kernel_spec(kernel_name)


def install_kernel_spec(
    source_dir: str,
    kernel_name: str | None = None,
    user: bool = False,
    replace: bool | None = False,
    prefix: str | None = None,
) -> str:
    """``KernelSpecManager().install_kernel_spec(...)`` (``replace=False`` warns, as upstream)."""
    return KernelSpecManager().install_kernel_spec(source_dir, kernel_name, user, replace, prefix)


def install_native_kernel_spec(user: bool = False) -> None:
    """Deprecated: ``KernelSpecManager().install_native_kernel_spec(user=user)``."""
    KernelSpecManager().install_native_kernel_spec(user=user)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
