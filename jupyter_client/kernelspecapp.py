"""The ``jupyter-kernelspec`` command: list, install, remove kernelspecs; list provisioners.

Upstream builds these on jupyter_core's ``JupyterApp``; ours build on
:class:`jupyter_client._app.JupyterApp` (Jupyter dirs, config files, the base options), which
is re-exported here under its upstream name. Class names, options, aliases and output text
match upstream. Besides ``jupyter_config`` (upstream's only config file for these commands),
``jupyter_kernelspec_config.py/.json`` is read too.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from shutil import which
from typing import Any

from traitlets import Bool, Dict, Instance, List, Unicode
from traitlets.config import Application

from jupyter_client._app import JupyterApp, base_aliases, base_flags
from jupyter_client._lazy_names import upstream_names
from jupyter_client._version import __version__
from jupyter_client.kernelspec import PROVISIONER_GROUP, KernelSpecManager

__all__ = [
    "InstallKernelSpec",
    "InstallNativeKernelSpec",
    "JupyterApp",
    "KernelSpecApp",
    "ListKernelSpecs",
    "ListProvisioners",
    "RemoveKernelSpec",
    "main",
]


class _KernelSpecCommand(JupyterApp):
    """A ``jupyter kernelspec`` subcommand: also reads ``jupyter_kernelspec_config``."""

    config_file_aliases = ("jupyter_kernelspec_config",)


def _limit_to_missing(specs: dict[str, Any]) -> dict[str, Any]:
    """Keep only specs whose ``argv[0]`` neither exists nor is on PATH."""
    return {
        name: data
        for name, data in specs.items()
        if not (Path(data["spec"]["argv"][0]).exists() or which(data["spec"]["argv"][0]))
    }


class ListKernelSpecs(_KernelSpecCommand):
    """An app to list kernel specs."""

    version = __version__
    description = """List installed kernel specifications."""
    kernel_spec_manager = Instance(KernelSpecManager)
    json_output = Bool(
        False, help="output spec name and location as machine-readable json.", config=True
    )
    missing_kernels = Bool(False, help="List only specs with missing interpreters.", config=True)
    flags = {
        "json": (
            {"ListKernelSpecs": {"json_output": True}},
            "output spec name and location as machine-readable json.",
        ),
        "missing": ({"ListKernelSpecs": {"missing_kernels": True}}, "output only missing kernels"),
        "debug": base_flags["debug"],
    }

    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(parent=self, data_dir=self.data_dir)

    def start(self) -> dict[str, Any] | None:  # type: ignore[override]
        """Print the specs (text sorted by Jupyter path priority, or JSON)."""
        specs = self.kernel_spec_manager.get_all_specs()
        if self.missing_kernels:
            specs = _limit_to_missing(specs)
        # From the specs that loaded, not find_kernel_specs(): a spec the manager just
        # warned it skipped (a broken kernel.json) must not be listed as available.
        paths = {name: data["resource_dir"] for name, data in specs.items()}
        if self.json_output:
            print(json.dumps({"kernelspecs": specs}, indent=2))
            return specs
        if not specs:
            print("No kernels available")
            return None
        width = max(len(name) for name in paths)

        def priority(item: tuple[str, str]) -> tuple[int, str]:
            for idx, prefix in enumerate(self.jupyter_path):
                if item[1].startswith(prefix):
                    return idx, item[1]
            return -1, item[1]

        print("Available kernels:")
        for name, path in sorted(paths.items(), key=priority):
            print(f"  {name.ljust(width)}    {path}")
        return specs


class InstallKernelSpec(_KernelSpecCommand):
    """An app to install a kernel spec."""

    version = __version__
    description = """Install a kernel specification directory.

    Given a SOURCE DIRECTORY containing a kernel spec,
    jupyter will copy that directory into one of the Jupyter kernel directories.
    The default is to install kernelspecs for all users.
    `--user` can be specified to install a kernel only for the current user.
    """
    examples = """
    jupyter kernelspec install /path/to/my_kernel --user
    """
    usage = "jupyter kernelspec install SOURCE_DIR [--options]"
    kernel_spec_manager = Instance(KernelSpecManager)

    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(data_dir=self.data_dir)

    sourcedir = Unicode()
    kernel_name = Unicode("", config=True, help="Install the kernel spec with this name")

    def _kernel_name_default(self) -> str:
        return os.path.basename(self.sourcedir)

    user = Bool(
        False,
        config=True,
        help="Try to install the kernel spec to the per-user directory instead of the system"
        " or environment directory.",
    )
    prefix = Unicode(
        "",
        config=True,
        help="Specify a prefix to install to, e.g. an env. The kernelspec will be installed in"
        " PREFIX/share/jupyter/kernels/",
    )
    replace = Bool(False, config=True, help="Replace any existing kernel spec with this name.")
    aliases = {"name": "InstallKernelSpec.kernel_name", "prefix": "InstallKernelSpec.prefix"}
    aliases.update(base_aliases)
    flags = {
        "user": ({"InstallKernelSpec": {"user": True}}, "Install to the per-user kernel registry"),
        "replace": (
            {"InstallKernelSpec": {"replace": True}},
            "Replace any existing kernel spec with this name.",
        ),
        "sys-prefix": (
            {"InstallKernelSpec": {"prefix": sys.prefix}},
            "Install to Python's sys.prefix. Useful in conda/virtual environments.",
        ),
        "debug": base_flags["debug"],
    }

    def parse_command_line(self, argv: Any) -> None:  # type: ignore[override]
        """The first positional argument is the source directory (required)."""
        super().parse_command_line(argv)
        if self.extra_args:
            self.sourcedir = self.extra_args[0]
        else:
            print("No source directory specified.", file=sys.stderr)
            self.exit(1)

    def start(self) -> None:
        """Install; permission and existing-destination errors exit with a hint."""
        if self.user and self.prefix:
            self.exit("Can't specify both user and prefix. Please choose one or the other.")
        try:
            self.kernel_spec_manager.install_kernel_spec(
                self.sourcedir,
                kernel_name=self.kernel_name,
                user=self.user,
                prefix=self.prefix,
                replace=self.replace,
            )
        except OSError as e:
            if e.errno == errno.EACCES:
                print(e, file=sys.stderr)
                if not self.user:
                    print("Perhaps you want to install with `sudo` or `--user`?", file=sys.stderr)
                self.exit(1)
            elif e.errno == errno.EEXIST:
                print(f"A kernel spec is already present at {e.filename}", file=sys.stderr)
                self.exit(1)
            raise


class RemoveKernelSpec(_KernelSpecCommand):
    """An app to remove a kernel spec."""

    version = __version__
    description = """Remove one or more Jupyter kernelspecs by name."""
    examples = """jupyter kernelspec remove python2 [my_kernel ...]"""
    force = Bool(False, config=True, help="""Force removal, don't prompt for confirmation.""")
    spec_names = List(Unicode())
    missing_kernels = Bool(False, help="Remove missing specs.", config=True)
    kernel_spec_manager = Instance(KernelSpecManager)

    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(data_dir=self.data_dir, parent=self)

    flags = {
        "f": ({"RemoveKernelSpec": {"force": True}}, force.help),
        "missing": ({"RemoveKernelSpec": {"missing_kernels": True}}, "remove missing kernels"),
    }
    flags.update(JupyterApp.flags)

    def parse_command_line(self, argv: Any) -> None:  # type: ignore[override]
        """Positional arguments are spec names (de-duplicated, sorted)."""
        super().parse_command_line(argv)
        self.spec_names = sorted(set(self.extra_args)) if self.extra_args else []

    def start(self) -> None:
        """Confirm (unless ``-f``/``-y``), then remove each spec and report its path."""
        self.kernel_spec_manager.ensure_native_kernel = False
        spec_paths = self.kernel_spec_manager.find_kernel_specs()
        if self.missing_kernels:
            missing_specs = _limit_to_missing(self.kernel_spec_manager.get_all_specs())
            self.spec_names = sorted(set(self.spec_names + list(missing_specs)))
        unknown = set(self.spec_names).difference(spec_paths)
        if unknown:
            self.exit("Couldn't find kernel spec(s): {}".format(", ".join(unknown)))
        if not (self.force or self.answer_yes):
            print("Kernel specs to remove:")
            for name in self.spec_names:
                path = spec_paths.get(name, name)
                print(f"  {name.ljust(20)}\t{path.ljust(20)}")
            answer = input(f"Remove {len(self.spec_names)} kernel specs [y/N]: ")
            if not answer.lower().startswith("y"):
                return
        for name in self.spec_names:
            try:
                path = self.kernel_spec_manager.remove_kernel_spec(name)
            except OSError as e:
                if e.errno == errno.EACCES:
                    print(e, file=sys.stderr)
                    print("Perhaps you want sudo?", file=sys.stderr)
                    self.exit(1)
                raise
            print(f"Removed {path}")


class InstallNativeKernelSpec(_KernelSpecCommand):
    """An app to install the native kernel spec."""

    version = __version__
    description = """[DEPRECATED] Install the IPython kernel spec directory for this Python."""
    kernel_spec_manager = Instance(KernelSpecManager)

    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(data_dir=self.data_dir)

    user = Bool(
        False,
        config=True,
        help="Try to install the kernel spec to the per-user directory instead of the system"
        " or environment directory.",
    )
    flags = {
        "user": (
            {"InstallNativeKernelSpec": {"user": True}},
            "Install to the per-user kernel registry",
        ),
        "debug": base_flags["debug"],
    }

    def start(self) -> None:
        """Delegate to ipykernel (deprecated command)."""
        self.log.warning(
            "`jupyter kernelspec install-self` is DEPRECATED as of 4.0."
            " You probably want `ipython kernel install` to install the IPython kernelspec."
        )
        try:
            from ipykernel import kernelspec
        except ModuleNotFoundError:
            print("ipykernel not available, can't install its spec.", file=sys.stderr)
            self.exit(1)
        try:
            kernelspec.install(self.kernel_spec_manager, user=self.user)
        except OSError as e:
            if e.errno == errno.EACCES:
                print(e, file=sys.stderr)
                if not self.user:
                    print("Perhaps you want to install with `sudo` or `--user`?", file=sys.stderr)
                self.exit(1)
            self.exit(e)  # type: ignore[arg-type]


class ListProvisioners(_KernelSpecCommand):
    """An app to list provisioners."""

    version = __version__
    description = """List available provisioners for use in kernel specifications."""

    def start(self) -> None:
        """Print every registered ``jupyter_client.kernel_provisioners`` entry point."""
        found = {ep.name: ep.value for ep in entry_points(group=PROVISIONER_GROUP)}
        print("Available kernel provisioners:")
        if not found:
            return
        width = max(len(name) for name in found)
        for name in sorted(found):
            print(f"  {name.ljust(width)}    {found[name]}")


class KernelSpecApp(Application):
    """An app to manage kernel specs."""

    version = __version__
    name = "jupyter kernelspec"
    description = """Manage Jupyter kernel specifications."""
    subcommands = Dict(
        {
            "list": (ListKernelSpecs, ListKernelSpecs.description.splitlines()[0]),
            "install": (InstallKernelSpec, InstallKernelSpec.description.splitlines()[0]),
            "uninstall": (RemoveKernelSpec, "Alias for remove"),
            "remove": (RemoveKernelSpec, RemoveKernelSpec.description.splitlines()[0]),
            "install-self": (
                InstallNativeKernelSpec,
                InstallNativeKernelSpec.description.splitlines()[0],
            ),
            "provisioners": (ListProvisioners, ListProvisioners.description.splitlines()[0]),
        }
    )
    aliases: dict[Any, Any] = {}
    flags: dict[Any, Any] = {}

    def start(self) -> None:
        """Run the subcommand, or explain that one is needed (exit status 1)."""
        if self.subapp is None:
            print(f"No subcommand specified. Must specify one of: {list(self.subcommands)}")
            print()
            self.print_description()
            self.print_subcommands()
            self.exit(1)
        else:
            self.subapp.start()


def main() -> None:
    """Console-script entry point of ``jupyter-kernelspec``."""
    KernelSpecApp.launch_instance()


if __name__ == "__main__":
    main()


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
