"""What a supervised kernel starts dies with it (issue: a supervisor nothing can take down,
finding 7). A child in its own session used to survive ``jupyter-supervisor stop`` (the same
child under ``KernelManager`` was killed), and a double-forked daemon escaped both. Real
supervisor, the purpose-built kernel's ``--fork-child`` and ``--daemon-child``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest
from kernels.support import MINIMAL_KERNEL
from supervisor_helpers import Harness, running_harness, wait_for, write_spec

pytestmark = pytest.mark.timeout(120)


def _spec(h: Harness, name: str, *flags: str) -> None:
    write_spec(h.jpath, name, [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}", *flags])


def _pid(pidfile: Path) -> int:
    return wait_for(lambda: pidfile.exists() and int(pidfile.read_text()), what=str(pidfile))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("how", ["--fork-child", "--daemon-child"])
def test_stop_kills_what_the_kernel_started(tmp_path: Path, how: str) -> None:
    pidfile = tmp_path / "child.pid"
    with running_harness(tmp_path) as h:
        _spec(h, "parent", how, str(pidfile))
        proc = h.serve()
        kid = h.start("parent")
        child = _pid(pidfile)
        assert not _gone(child)
        if how == "--daemon-child":  # its parent is gone: it came back to the supervisor
            wait_for(lambda: psutil.Process(child).ppid() == proc.pid, what="reparented to us")
        h.cli("stop", kid)
        wait_for(lambda: _gone(child), timeout=15, what=f"{how} process killed by stop")
        if how == "--daemon-child":
            assert "escaped its tree" in h.log_tail()


def test_an_orphan_that_ends_by_itself_is_reaped(tmp_path: Path) -> None:
    """A daemon that came back to the supervisor and then exits must not stay a zombie."""
    pidfile = tmp_path / "child.pid"
    with running_harness(tmp_path) as h:
        _spec(h, "parent", "--daemon-child", str(pidfile), "--daemon-lifetime", "3")
        proc = h.serve()
        h.start("parent")
        child = _pid(pidfile)

        def reaped() -> bool:
            return child not in {c.pid for c in psutil.Process(proc.pid).children()}

        wait_for(reaped, timeout=30, what="the ended orphan reaped")
        assert not os.path.exists(f"/proc/{child}")
