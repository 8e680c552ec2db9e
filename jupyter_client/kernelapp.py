"""``jupyter-kernel``: start one kernel and keep it running until told to stop.

``jupyter-kernel --kernel=python3`` starts the kernel with a :class:`KernelManager`, logs
where its connection file is (``Connection file: <path>`` and ``To connect a client:
--existing <name>``), and waits. SIGTERM or SIGINT (Ctrl-C) shuts the kernel down politely
(``shutdown_request``, then SIGTERM, then SIGKILL of its process tree, as configured by
``KernelManager.shutdown_wait_time``), removes the connection file and exits with status 0.

Differences from upstream, all additive:

* the signal handlers are installed before the kernel starts, so a signal that arrives during
  start-up still shuts the kernel down once it is up, instead of killing the app and orphaning
  the kernel;
* when the kernel exits on its own (a client sent ``shutdown_request``, or it crashed), the app
  notices (from the kernel process's exit event, not by polling), cleans up and exits: status
  0 if the kernel exited with 0, else 1. Upstream keeps waiting for a signal;
* an unknown kernel name, or a kernel command that cannot be started, is one critical log line
  and exit status 1, not a traceback;
* ``--config`` and ``--log-level`` are accepted (upstream's KernelApp ignores them), and
  ``jupyter_kernel_config.py/.json`` is read after ``jupyter_config``.
"""

from __future__ import annotations

import os
import signal
import threading
import uuid
from typing import Any

from traitlets import Unicode

from jupyter_client._app import JupyterApp, base_aliases, base_flags
from jupyter_client._lazy_names import upstream_names
from jupyter_client._manager_lifecycle import supervised
from jupyter_client._version import __version__
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

__all__ = ["KernelApp", "main"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class KernelApp(JupyterApp):
    """Start a kernel by name in a local subprocess and keep it up until a signal."""

    version = __version__
    description = "Run a kernel locally in a subprocess"
    config_file_aliases = ("jupyter_kernel_config",)

    classes = [KernelManager, KernelSpecManager]

    aliases = {
        "kernel": "KernelApp.kernel_name",
        "ip": "KernelManager.ip",
        "config": base_aliases["config"],
        "log-level": base_aliases["log-level"],
    }
    flags = {"debug": base_flags["debug"]}

    kernel_name = Unicode(NATIVE_KERNEL_NAME, help="The name of a kernel type to start").tag(
        config=True
    )

    km: KernelManager

    def initialize(self, argv: Any = None) -> None:
        """Read options and config; build the manager (the kernel starts in :meth:`start`).

        The connection file defaults to ``<runtime dir>/kernel-<uuid>.json``; a
        ``KernelManager.connection_file`` from the command line or a config file wins.
        """
        super().initialize(argv)
        default_cf = os.path.join(self.runtime_dir, f"kernel-{uuid.uuid4()}.json")
        self.config.setdefault("KernelManager", {}).setdefault("connection_file", default_cf)
        self.km = KernelManager(kernel_name=self.kernel_name, config=self.config)
        self._wake = threading.Event()
        self._signal: int | None = None
        self._kernel_exit: int | None = None

    # -- waiting ------------------------------------------------------------------------------
    def setup_signals(self) -> None:
        """SIGTERM and SIGINT ask the app to shut the kernel down (POSIX only, as upstream)."""
        if os.name == "nt":
            return

        def on_signal(signo: int, frame: Any) -> None:
            if self._signal is None:
                self._signal = signo
            self._wake.set()

        for signo in _STOP_SIGNALS:
            signal.signal(signo, on_signal)

    def _watch_kernel_exit(self) -> None:
        """Wake the app when the kernel process exits, from its exit event (no polling).

        For every kernel with an actor: ours watch a pidfd, a third-party provisioner's are
        polled by the actor (``supervisor.provisioned``).
        """
        handle = supervised(self.km)
        proc = None if handle is None else handle.current
        home = None if handle is None else handle.home
        if proc is None or home is None:
            return

        async def watch() -> None:
            info = await proc.wait()
            self._kernel_exit = 0 if info is None else info.returncode
            self._wake.set()

        home.spawn(watch, name="jupyter-kernel exit watcher")

    def shutdown(self, signo: int) -> None:
        """Shut the kernel down because of signal ``signo``."""
        self.log.info("Shutting down on signal %d", signo)
        self.km.shutdown_kernel()

    def log_connection_info(self) -> None:
        """Say where the connection file is and how a client connects with it."""
        cf = self.km.connection_file
        self.log.info("Connection file: %s", cf)
        self.log.info("To connect a client: --existing %s", os.path.basename(cf))

    def _record_started(self) -> None:
        """Upstream's private test hook: create the file named by
        ``JUPYTER_CLIENT_TEST_RECORD_STARTUP_PRIVATE`` once the kernel is up."""
        fn = os.environ.get("JUPYTER_CLIENT_TEST_RECORD_STARTUP_PRIVATE")
        if fn is not None:
            with open(fn, "wb"):
                pass

    def _start_kernel(self) -> None:
        try:
            self.km.kernel_spec  # noqa: B018 - resolve it first: an unknown name is one line
        except NoSuchKernel:
            self.log.critical("No such kernel named %r", self.kernel_name)
            self.exit(1)
        try:
            self.km.start_kernel()
        except Exception as e:
            self.log.critical("Could not start kernel %r: %s", self.kernel_name, e)
            self.log.debug("Start failure details", exc_info=True)
            self.exit(1)

    def start(self) -> None:
        """Start the kernel, wait for a signal or for the kernel to exit, shut down, clean up."""
        self.setup_signals()
        self.log.info("Starting kernel %r", self.kernel_name)
        try:
            self._start_kernel()
            self.log_connection_info()
            self._watch_kernel_exit()
            self._record_started()
            self._wake.wait()
            if self._signal is not None:
                self.shutdown(self._signal)
                return
            code = self._kernel_exit
            self.log.info("Kernel exited on its own (status %s); stopping", code)
            self.km.shutdown_kernel(now=True)  # forget the dead process, leave the host
            if code != 0:
                self.exit(1)
        finally:
            self.km.cleanup_resources()


def main(argv: Any = None, **kwargs: Any) -> None:
    """Console-script entry point of ``jupyter-kernel``."""
    KernelApp.launch_instance(argv, **kwargs)


if __name__ == "__main__":
    main()


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
