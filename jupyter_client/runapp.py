"""``jupyter-run``: run files (or stdin) on a kernel and print what they output.

``jupyter-run --kernel=python3 a.py b.py`` starts a kernel, runs each file's code in turn in
that one kernel (so ``b.py`` sees what ``a.py`` defined), prints the outputs as they arrive
(stdout/stderr streams, ``text/plain`` of results and displays, tracebacks), and shuts the
kernel down at exit. With no file it runs what it reads from stdin; with ``--existing`` it
uses a running kernel instead and leaves it running.

Every file is read before the kernel starts: a missing or unreadable one ends the run with
exit status 1 before any kernel starts or any file runs (upstream runs the files before it).
Like upstream: the first file whose execution fails stops the run with exit status 1; Ctrl-C
interrupts the kernel we started (it cannot interrupt an existing one); file names are also
passed to the kernel's command line (the console mixin's default, kept for compatibility).

Unlike upstream, failures end with one line naming the file and the reason instead of a Python
traceback of the app, and the per-file time limit, upstream's fixed 10 s, is the
``RunApp.output_timeout`` setting (default still 10 s).
"""

from __future__ import annotations

import atexit
import signal
import sys
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Dict, Float
from traitlets.config import catch_config_error

from jupyter_client._app import JupyterApp, base_aliases, base_flags
from jupyter_client._lazy_names import upstream_names
from jupyter_client._version import __version__
from jupyter_client.consoleapp import JupyterConsoleApp, app_aliases, app_flags

__all__ = ["OUTPUT_TIMEOUT", "RunApp", "RunError", "launch_new_instance", "main"]

#: Upstream's fixed limit (seconds) for one file's whole execution; our default for it.
OUTPUT_TIMEOUT = 10

frontend_flags_dict: dict[str, Any] = dict(app_flags)
frontend_aliases_dict: dict[str, Any] = dict(app_aliases)
flags: dict[str, Any] = {**base_flags, **frontend_flags_dict}
aliases: dict[str, Any] = {**base_aliases, **frontend_aliases_dict}
frontend_aliases = set(frontend_aliases_dict)
frontend_flags = set(frontend_flags_dict)


class RunError(Exception):
    """A file (or stdin) could not be run; the message names it and says why.

    An ``Exception`` subclass with upstream's message for a failed execution, so code that
    runs ``RunApp`` in-process and catches ``Exception`` keeps working.
    """


class RunApp(JupyterApp, JupyterConsoleApp):
    """Run files or stdin on a new or existing kernel (see the module docstring)."""

    version = __version__
    name = "jupyter run"
    description = """Run Jupyter kernel code."""
    config_file_aliases = ("jupyter_run_config",)
    flags = Dict(flags)
    aliases = Dict(aliases)
    frontend_aliases = AnyTrait(frontend_aliases)
    frontend_flags = AnyTrait(frontend_flags)
    kernel_timeout = Float(
        60,
        config=True,
        help="""How long to wait, in seconds, for the kernel to answer a kernel_info_request
        before presuming it dead (checked once, before the first file runs).""",
    )
    output_timeout = Float(
        OUTPUT_TIMEOUT,
        min=0.0,
        config=True,
        help="""How long one file (or stdin) may run, in seconds, before jupyter-run gives up
        on it (exit status 1). Upstream fixes this at 10 s.""",
    )

    filenames_to_run: list[str]
    #: Each file's code, read in ``initialize`` before the kernel starts (see ``_read_files``).
    codes_to_run: list[tuple[str, str]]

    def parse_command_line(self, argv: Any = None) -> None:
        """Positional arguments are the files to run (and, as upstream, kernel arguments)."""
        super().parse_command_line(argv)
        self.build_kernel_argv(self.extra_args)
        self.filenames_to_run = self.extra_args[:]

    @catch_config_error
    def initialize(self, argv: Any = None) -> None:
        """Read options and config, start (or connect to) the kernel, route Ctrl-C to it."""
        self.log.debug("jupyter run: initialize...")
        super().initialize(argv)
        self.codes_to_run = [] if self._dispatching else self._read_files()
        JupyterConsoleApp.initialize(self)
        signal.signal(signal.SIGINT, self.handle_sigint)
        if self.kernel_manager is not None:
            atexit.register(self.kernel_manager.shutdown_kernel)

    def _read_files(self) -> list[tuple[str, str]]:
        """``(filename, code)`` for every file to run, read before any kernel starts.

        A missing or unreadable file is a mistake on the command line: saying so at once
        beats starting a kernel (seconds, for ipykernel) only to fail after it, and means
        no file runs at all when one of them cannot be read (upstream runs the ones before).
        """
        codes = []
        for filename in self.filenames_to_run:
            try:
                with open(filename) as fp:
                    codes.append((filename, fp.read()))
            except OSError as e:
                raise RunError(f"jupyter-run cannot read {filename!r}: {e.strerror}") from None
        return codes

    def handle_sigint(self, *args: Any) -> None:
        """Ctrl-C interrupts the kernel we started; an existing kernel is not ours to stop."""
        if self.kernel_manager is not None:
            self.kernel_manager.interrupt_kernel()
        else:
            self.log.error("Cannot interrupt kernels we didn't start.\n")

    def _run_code(self, code: str, label: str) -> None:
        try:
            reply = self.kernel_client.execute_interactive(code, timeout=self.output_timeout)
        except TimeoutError:
            raise RunError(
                f"jupyter-run gave up on {label!r}: still running after {self.output_timeout:g}"
                " s (raise RunApp.output_timeout to allow more)"
            ) from None
        if reply["content"]["status"] != "ok":
            # the kernel's traceback was printed without a final newline: end its line first
            sys.stdout.flush()
            sys.stderr.write("\n")
            raise RunError(f"jupyter-run error running {label!r}")

    def start(self) -> None:
        """Wait for the kernel, then run each file in order (stdin when none was given).

        Raises :class:`RunError` for the first file that fails (``main`` turns it into a
        message and exit status 1); later files are not run.
        """
        if self.dispatch():
            return
        self.log.debug("jupyter run: starting...")
        try:
            self.kernel_client.wait_for_ready(timeout=self.kernel_timeout)
        except RuntimeError as e:
            raise RunError(f"jupyter-run: the kernel is not ready: {e}") from None
        if not self.filenames_to_run:
            self.log.debug("jupyter run: executing from stdin")
            self._run_code(sys.stdin.read(), "stdin")
            return
        for filename, code in self.codes_to_run:
            self.log.debug("jupyter run: executing `%s`", filename)
            self._run_code(code, filename)


def main(argv: Any = None, **kwargs: Any) -> None:
    """Console-script entry point: a failed run is one line on stderr and exit status 1."""
    try:
        RunApp.launch_instance(argv, **kwargs)
    except RunError as e:
        sys.exit(str(e))


launch_new_instance = main

if __name__ == "__main__":
    main()


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
