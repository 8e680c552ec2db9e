"""``JupyterConsoleApp``: the traitlets mixin that console-like frontends build on.

jupyter_console, qtconsole and our ``jupyter-run`` mix it into an application to get the same
command-line surface (``--existing``, ``-f``, ``--ip``, ``--transport``, the five port
options, ``--ssh``/``--sshkey``, ``--kernel``) and the same start-up: find or place the
connection file, tunnel through ssh if asked, start a kernel unless connecting to an existing
one, and open a blocking client's channels. The class, trait and option names are upstream's,
so those frontends' config files and command lines keep working.

The host application must provide ``runtime_dir``, ``data_dir``, ``extra_args`` and ``exit``
(our :class:`jupyter_client._app.JupyterApp`, jupyter_core's, and traitlets' ``Application`` do).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import uuid
import warnings
from typing import Any, cast

from traitlets import CBool, CUnicode, Dict, List, Type, Unicode
from traitlets.config.application import boolean_flag

from jupyter_client._app import base_aliases, base_flags
from jupyter_client._lazy_names import upstream_names
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.connect import (
    ConnectionFileMixin,
    KernelConnectionInfo,
    find_connection_file,
    tunnel_to_kernel,
)
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_client.localinterfaces import localhost
from jupyter_client.manager import KernelManager
from jupyter_client.restarter import KernelRestarter
from jupyter_client.session import Session
from jupyter_client.utils import _filefind

__all__ = [
    "IPythonConsoleApp",
    "JupyterConsoleApp",
    "aliases",
    "app_aliases",
    "app_flags",
    "classes",
    "flags",
]

# Options that belong to the frontend; an app that forwards the rest of its command line to
# the kernel must strip these first, or the kernel rejects them.
app_flags: dict[str, Any] = {
    "existing": (
        {"JupyterConsoleApp": {"existing": "kernel*.json"}},
        "Connect to an existing kernel. If no argument specified, guess most recent",
    ),
}
app_flags.update(
    boolean_flag(
        "confirm-exit",
        "JupyterConsoleApp.confirm_exit",
        "Ask for confirmation before exiting ('exit' and 'quit' never ask). Config:"
        " c.JupyterConsoleApp.confirm_exit.",
        "Exit without asking: a kernel this frontend started is shut down, an existing one is"
        " left running. Config: c.JupyterConsoleApp.confirm_exit.",
    )
)
app_aliases: dict[str, Any] = {
    "ip": "JupyterConsoleApp.ip",
    "transport": "JupyterConsoleApp.transport",
    "hb": "JupyterConsoleApp.hb_port",
    "shell": "JupyterConsoleApp.shell_port",
    "iopub": "JupyterConsoleApp.iopub_port",
    "stdin": "JupyterConsoleApp.stdin_port",
    "control": "JupyterConsoleApp.control_port",
    "existing": "JupyterConsoleApp.existing",
    "f": "JupyterConsoleApp.connection_file",
    "kernel": "JupyterConsoleApp.kernel_name",
    "ssh": "JupyterConsoleApp.sshserver",
    "sshkey": "JupyterConsoleApp.sshkey",
}

flags: dict[str, Any] = {**base_flags, **app_flags}
aliases: dict[str, Any] = {**base_aliases, **app_aliases}

classes: list[type[Any]] = [KernelManager, KernelRestarter, Session]


class JupyterConsoleApp(ConnectionFileMixin):
    """The connection and kernel start-up half of a console frontend (a mixin)."""

    name: Any = "jupyter-console-mixin"
    description: Any = """
        The Jupyter Console Mixin.

        The parts every console-like frontend (terminal console, QtConsole, jupyter-run)
        shares: start a kernel or connect to an existing one (--existing), optionally
        through ssh tunnels (--ssh, --sshkey), and open a client to it.
    """

    classes = classes

    @property
    def _dispatching(self) -> bool:
        """Overridden by JupyterApp (the class this mixes into): True while it hands over to a
        subcommand or only writes its config, so no kernel is started."""
        return False

    flags = Dict(flags)
    aliases = Dict(aliases)
    kernel_manager_class = Type(
        default_value=KernelManager, config=True, help="The kernel manager class to use."
    )
    kernel_client_class = BlockingKernelClient

    kernel_argv = List(Unicode())

    sshserver = Unicode("", config=True, help="The SSH server to use to connect to the kernel.")
    sshkey = Unicode(
        "", config=True, help="Path to the ssh key to use for logging in to the ssh server."
    )

    def _connection_file_default(self) -> str:
        return f"kernel-{os.getpid()}.json"

    existing = CUnicode("", config=True, help="Connect to an already running kernel")
    kernel_name = Unicode("python", config=True, help="The name of the default kernel to start.")
    confirm_exit = CBool(
        True,
        config=True,
        help="Set to display confirmation dialog on exit. You can always use 'exit' or 'quit',"
        " to force a direct exit without any confirmation.",
    )

    kernel_manager: Any = None
    kernel_client: Any = None

    # -- pieces of initialize(), each overridable ---------------------------------------------
    def build_kernel_argv(self, argv: object = None) -> None:
        """The extra arguments for the kernel command: by default the leftover command line."""
        self.kernel_argv = self.extra_args  # type: ignore[attr-defined]

    def _exit(self, status: int) -> None:
        self.exit(status)  # type: ignore[attr-defined]

    def init_connection_file(self) -> None:
        """Make ``connection_file`` a full path, and load it if it exists.

        With ``--existing``, the value is looked up in the current dir and the runtime dir,
        first as a name, then as a glob (``kernel*.json``: the most recently used match);
        nothing found exits with status 1. Without it, a bare name is placed in the runtime
        dir. An existing file is loaded, so its ports and key are reused.
        """
        runtime_dir: str = self.runtime_dir  # type: ignore[attr-defined]
        if self.existing:
            try:
                found = find_connection_file(self.existing, [".", runtime_dir])
            except Exception:
                self.log.critical(
                    "Could not find existing kernel connection file %s", self.existing
                )
                self._exit(1)
                return
            self.log.debug("Connecting to existing kernel: %s", found)
            self.connection_file = found
        else:
            try:
                self.connection_file = find_connection_file(self.connection_file, [runtime_dir])
            except Exception:
                if self.connection_file == os.path.basename(self.connection_file):
                    self.connection_file = os.path.join(runtime_dir, self.connection_file)
        try:
            self.connection_file = _filefind(self.connection_file, [".", runtime_dir])
        except OSError:
            self.log.debug("Connection file not found: %s", self.connection_file)
            return
        try:
            self.load_connection_file()
        except Exception:
            self.log.error(
                "Failed to load connection file: %r", self.connection_file, exc_info=True
            )
            self._exit(1)

    def init_ssh(self) -> None:
        """Forward the kernel's ports through ssh when ``--existing`` and ``--ssh``/``--sshkey``.

        The tunnels listen on localhost; a ``<name>-ssh.json`` connection file describing them
        is written next to the original so other clients can share the tunnels.
        """
        if not self.existing or not (self.sshserver or self.sshkey):
            return
        self.load_connection_file()
        ip = self.ip
        if self.transport != "tcp":
            self.log.error("Can only use ssh tunnels with TCP sockets, not %s", self.transport)
            sys.exit(-1)
        if self.sshkey and not self.sshserver:
            # only a key: the kernel's own machine is the ssh server
            self.sshserver = ip
            ip = localhost()
        info: KernelConnectionInfo = {
            "ip": ip,
            "shell_port": self.shell_port,
            "iopub_port": self.iopub_port,
            "stdin_port": self.stdin_port,
            "hb_port": self.hb_port,
            "control_port": self.control_port,
        }
        self.log.info("Forwarding connections to %s via %s", ip, self.sshserver)
        self.ip = localhost()
        try:
            ports = tunnel_to_kernel(info, self.sshserver, self.sshkey)
        except BaseException:  # even Ctrl-C at the password prompt ends here
            self.log.error("Could not setup tunnels", exc_info=True)
            self._exit(1)
            return
        (self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port) = ports
        root, ext = os.path.splitext(self.connection_file)
        self.connection_file = root + "-ssh" + ext
        self.write_connection_file()
        self.log.info("To connect another client via this tunnel, use:")
        self.log.info("--existing %s", os.path.basename(self.connection_file))

    def _new_connection_file(self) -> str:
        """A fresh ``kernel-<12 hex>.json`` path in the runtime dir that does not exist yet."""
        runtime_dir: str = self.runtime_dir  # type: ignore[attr-defined]
        while True:
            path = os.path.join(runtime_dir, f"kernel-{uuid.uuid4().hex[-12:]}.json")
            if not os.path.exists(path):
                return path

    def init_kernel_manager(self) -> None:
        """Start a kernel with ``kernel_manager_class`` (unless ``--existing``).

        An unknown kernel name exits with status 1 after a critical log line naming it.
        The connection file is removed at interpreter exit.
        """
        if self.existing:
            self.kernel_manager = None
            return
        # Ctrl-C must reach the app (the app installs its own handler afterwards).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            km = self.kernel_manager_class(
                ip=self.ip,
                session=self.session,
                transport=self.transport,
                shell_port=self.shell_port,
                iopub_port=self.iopub_port,
                stdin_port=self.stdin_port,
                hb_port=self.hb_port,
                control_port=self.control_port,
                connection_file=self.connection_file,
                kernel_name=self.kernel_name,
                parent=self,
                data_dir=self.data_dir,
            )
            km.kernel_spec  # noqa: B018 - resolve the spec now: NoSuchKernel surfaces here
        except NoSuchKernel:
            self.log.critical("Could not find kernel %r", self.kernel_name)
            self._exit(1)
            return
        self.kernel_manager = cast(KernelManager, km)
        km.client_factory = self.kernel_client_class
        km.start_kernel(extra_arguments=self.kernel_argv)
        atexit.register(km.cleanup_ipc_files)
        if self.sshserver:
            km.write_connection_file()
        # the manager may have chosen ports (or rewritten them for ssh): adopt its values
        self.shell_port = km.shell_port
        self.iopub_port = km.iopub_port
        self.stdin_port = km.stdin_port
        self.hb_port = km.hb_port
        self.control_port = km.control_port
        self.connection_file = km.connection_file
        atexit.register(km.cleanup_connection_file)

    def init_kernel_client(self) -> None:
        """Open a client: the manager's, or one built from our connection info."""
        if self.kernel_manager is not None:
            self.kernel_client = self.kernel_manager.client()
        else:
            self.kernel_client = self.kernel_client_class(
                session=self.session,
                ip=self.ip,
                transport=self.transport,
                shell_port=self.shell_port,
                iopub_port=self.iopub_port,
                stdin_port=self.stdin_port,
                hb_port=self.hb_port,
                control_port=self.control_port,
                connection_file=self.connection_file,
                parent=self,
            )
        self.kernel_client.start_channels()

    def initialize(self, argv: object = None) -> None:
        """Connection file → ssh tunnels → kernel (unless existing) → client.

        An app mixing this in calls ``JupyterConsoleApp.initialize(self)`` after parsing its
        command line. Nothing happens when the app only dispatches (a subcommand,
        ``--generate-config``) or only shows its config (``--show-config``): no kernel is
        started for those.
        """
        if self._dispatching:
            return
        if getattr(self, "show_config", False) or getattr(self, "show_config_json", False):
            return
        self.init_connection_file()
        self.init_ssh()
        self.init_kernel_manager()
        self.init_kernel_client()


class IPythonConsoleApp(JupyterConsoleApp):
    """Deprecated name of :class:`JupyterConsoleApp`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("IPythonConsoleApp is deprecated. Use JupyterConsoleApp", stacklevel=2)
        super().__init__(*args, **kwargs)


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
