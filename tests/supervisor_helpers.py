"""A harness for driving the real ``jupyter-supervisor`` console script from tests.

Each harness has its own runtime dir and its own kernelspecs (``minimal``: the purpose-built
test kernel, quick to start; ``crasher``: exits at once), and ``close()`` always leaves
nothing behind: it asks the supervisor to shut down, escalates to SIGTERM/SIGKILL, and kills
any process whose command line mentions the runtime dir (every kernel's does: its connection
file lives there), including kernels orphaned by a SIGKILLed supervisor, which are no longer
our descendants and would escape the suite's leak check.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
from kernels.support import MINIMAL_KERNEL

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / ".venv" / "bin" / "jupyter-supervisor")
T = TypeVar("T")


def write_spec(jpath: Path, name: str, argv: list[str]) -> None:
    d = jpath / "kernels" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name,
                                               "language": "python"}))  # fmt: skip


class Harness:
    def __init__(self, tmp: Path, *, heartbeat: float = 1.0) -> None:
        self.tmp = tmp
        self.runtime = tmp / "runtime"
        self.jpath = tmp / "share" / "jupyter"
        self.heartbeat = heartbeat
        kernel = [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}"]
        write_spec(self.jpath, "minimal", kernel)
        write_spec(self.jpath, "crasher", [*kernel, "--crash-at-start"])
        #: The supervisor's port claims (docs/ports.md), apart from other tests'.
        self.claims = tmp / "claims"
        self.env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(self.runtime),
                        JUPYTER_PATH=str(self.jpath),
                        JUPYTER_CLIENT_PORT_DIR=str(self.claims))  # fmt: skip
        self.env.pop("JUPYTER_PLATFORM_DIRS", None)
        self.proc: subprocess.Popen[str] | None = None
        self.serve_log = tmp / "serve.log"
        self.ready_line = ""

    # -- the CLI -----------------------------------------------------------------------------
    def cli(
        self, *args: str, check: bool = True, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([SCRIPT, *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout)  # fmt: skip
        if check and out.returncode != 0:
            raise AssertionError(f"jupyter-supervisor {' '.join(args)} -> {out.returncode}\n"
                                 f"stdout: {out.stdout}\nstderr: {out.stderr}\n"
                                 f"serve log: {self.log_tail()}")  # fmt: skip
        return out

    def status(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.cli("status", "--json").stdout)
        return rows

    def row(self, kid: str) -> dict[str, Any]:
        return next(r for r in self.status() if r["id"] == kid)

    def start(self, name: str = "minimal", *args: str) -> str:
        return self.cli("start", name, *args).stdout.strip()

    def log_tail(self) -> str:
        try:
            return self.serve_log.read_text()[-3000:]
        except OSError:
            return ""

    # -- the supervisor process --------------------------------------------------------------
    def serve(self, *extra: str, nofile: int | None = None) -> subprocess.Popen[str]:
        """Start ``serve`` (with ``nofile``: under that soft limit of open files)."""
        assert self.proc is None

        def limit() -> None:
            if nofile is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        with open(self.serve_log, "a") as log:
            self.proc = subprocess.Popen(
                [SCRIPT, "serve", "--heartbeat", str(self.heartbeat), "--shutdown-wait", "2",
                 *extra], env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
                preexec_fn=limit if nofile is not None else None,
            )  # fmt: skip
        assert self.proc.stdout is not None
        self.ready_line = self.proc.stdout.readline()
        if "serving" not in self.ready_line:
            self.proc.wait(30)
            self._forget()
            raise AssertionError(f"serve did not come up: {self.ready_line!r}\n{self.log_tail()}")
        return self.proc

    def _forget(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def kill_supervisor(self) -> None:
        """SIGKILL the supervisor (its kernels survive: they are independent)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._forget()

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self._forget()
        return rc

    def kernel_processes(self) -> list[psutil.Process]:
        """Live processes whose command line mentions our runtime dir (our kernels)."""
        needle = str(self.runtime)
        found = []
        for p in psutil.process_iter(["cmdline", "status"]):
            try:
                cmd = " ".join(p.info["cmdline"] or ())
                if needle in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except psutil.Error:
                continue
        return found

    def close(self) -> None:
        """Stop the supervisor and every kernel, however the test ended."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.cli("shutdown", check=False, timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self._forget()
        elif (self.runtime / "jupyter-supervisor.sock").exists():
            self.cli("shutdown", check=False, timeout=60)  # a --daemon supervisor
        for p in self.kernel_processes():
            try:
                p.kill()
            except psutil.Error:
                pass


@contextlib.contextmanager
def running_harness(tmp: Path) -> Iterator[Harness]:
    """A Harness that is closed however the test ends, and leaves no kernel behind."""
    harness = Harness(tmp)
    try:
        yield harness
    finally:
        harness.close()
    assert not harness.kernel_processes()


def wait_for(pred: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        time.sleep(0.1)
