"""Run our and upstream's console scripts (jupyter-run, jupyter-kernel, ...) as subprocesses.

Shared by tests/test_runapp.py, test_kernelapp.py and test_app_config.py: an environment whose
Jupyter dirs all live under a temp dir, a subprocess wrapper that reads its output with a
deadline (never a hang), and the checks that nothing was left behind: a kernel orphaned by
the app is re-parented away from the test process, out of reach of the suite's leak check, so
:func:`processes_using` looks for any process naming the temp dir on its command line.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS_BIN = ROOT / ".venv" / "bin"
THEIRS_BIN = ROOT / ".venv-kernel" / "bin"
KERNELSPECS = ROOT / ".venv" / "share" / "jupyter"  # holds the `python3` kernelspec (ipykernel)
STARTUP = 60.0  # generous: two cores shared with other test runs


def app_env(base: Path) -> dict[str, str]:
    """An environment whose Jupyter dirs are all under ``base`` (kernelspecs: the venv's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "IPYTHON"))}
    env.update(
        JUPYTER_PATH=str(KERNELSPECS),
        JUPYTER_CONFIG_DIR=str(base / "cfg"),
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_RUNTIME_DIR=str(base / "rt"),
        IPYTHONDIR=str(base / "ipy"),
        PYTHONUNBUFFERED="1",
    )
    return env


def run(
    exe: Path, args: list[str], env: dict[str, str], *, cwd: Path | str = "/", stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run a console script to completion (bounded) and capture its output."""
    return subprocess.run(
        [str(exe), *args], env=env, cwd=str(cwd), input=stdin, capture_output=True, text=True,
        timeout=90,
    )  # fmt: skip


class App:
    """A console-script subprocess; one of its streams is read with a deadline."""

    def __init__(
        self, exe: Path, args: list[str], env: dict[str, str], *, watch: str = "stderr",
        cwd: Path | str = "/",
    ) -> None:  # fmt: skip
        pipe, devnull = subprocess.PIPE, subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [str(exe), *args], env=env, cwd=str(cwd), stdin=devnull,
            stdout=pipe if watch == "stdout" else devnull,
            stderr=pipe if watch == "stderr" else devnull,
        )  # fmt: skip
        stream = self.proc.stdout if watch == "stdout" else self.proc.stderr
        assert stream is not None
        self.stream = stream
        self.text = ""

    def _read(self, deadline: float, what: str) -> bool:
        """Append what is available before ``deadline`` to ``text``; False at EOF."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"{what} within the time limit; output so far:\n{self.text}")
        ready, _, _ = select.select([self.stream.fileno()], [], [], remaining)
        if not ready:
            return True
        chunk = os.read(self.stream.fileno(), 65536)
        self.text += chunk.decode(errors="replace")
        return bool(chunk)

    def read_until(self, pattern: str, timeout: float = STARTUP) -> re.Match[str]:
        """Read until ``pattern`` matches the output; fail (with the output) at EOF/timeout."""
        deadline = time.monotonic() + timeout
        while not (m := re.search(pattern, self.text)):
            if not self._read(deadline, f"no {pattern!r}"):
                pytest.fail(f"the app exited before {pattern!r}; output:\n{self.text}")
        return m

    def wait(self, timeout: float = STARTUP) -> int:
        """Read the rest of the output, wait for the exit, return the exit status."""
        deadline = time.monotonic() + timeout
        while self._read(deadline, "the app did not exit"):
            pass
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stream.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def processes_using(base: Path) -> list[str]:
    """Live processes whose command line names something under ``base``."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = p.info["cmdline"] or ()
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(str(base) in a for a in cmdline):
            found.append(f"{p.info['pid']} {' '.join(cmdline)[:150]}")
    return found


def runtime_files(base: Path) -> list[str]:
    """What is left in the runtime dir of :func:`app_env` (connection files)."""
    rt = base / "rt"
    return sorted(p.name for p in rt.iterdir()) if rt.exists() else []


def gone(pid: int) -> bool:
    """The process no longer runs (reaped, or a zombie waiting for its parent)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
