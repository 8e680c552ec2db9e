"""The crash-point sweep (issue: a supervisor nothing can take down, standing tests).

The supervisor is SIGKILLed at random moments while a ``start``, ``restart`` or ``stop`` is
in flight, and at exact ones (``JUPYTER_SUPERVISOR_CRASH_AT``: as a kernel's ``started`` (of
a start or a restart), ``stopped`` or ``died`` event arrives, before it is recorded); then
``serve`` runs again. After each crash: every kernel process alive is one the new supervisor
manages (none left unmanaged), and at the end a graceful shutdown leaves no process and no
file. Six random points in ``make test``, twenty under ``make chaos``."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from supervisor_helpers import SCRIPT, Harness, running_harness, wait_for

POINTS = 20 if os.environ.get("CHAOS_SECONDS") else 6

pytestmark = [pytest.mark.serial, pytest.mark.timeout(60 + 40 * POINTS)]


def _unmanaged(h: Harness) -> set[int]:
    """Kernel processes alive that no row of the running supervisor names."""
    managed = {r["pid"] for r in h.status() if r["pid"]}
    return {p.pid for p in h.kernel_processes()} - managed


def _settled(h: Harness) -> set[int]:
    """Wait until nothing is starting or restarting; the unmanaged processes then."""

    def quiet() -> bool:
        return all(r["state"] in ("idle", "busy", "dead") for r in h.status())

    wait_for(quiet, timeout=60, what="kernels settled")
    return _unmanaged(h)


def _crash_during(h: Harness, argv: list[str], delay: float) -> None:
    """Run ``jupyter-supervisor *argv`` and SIGKILL the supervisor ``delay`` s into it."""
    op = subprocess.Popen([SCRIPT, *argv], env=h.env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(delay)
    h.kill_supervisor()
    op.wait(60)


def test_crash_point_sweep(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("SWEEP_SEED", "7")))
    seen: list[str] = []
    with running_harness(tmp_path) as h:
        h.serve()
        h.start("minimal", "--id", "base")
        n = 0
        for point in range(POINTS):
            ids = [r["id"] for r in h.status()]
            op = rng.choice(["start", "restart", "stop"] if ids else ["start"])
            if op == "start":
                n += 1
                argv = ["start", "minimal", "--id", f"s{n}"]
            else:
                argv = [op, rng.choice(ids)]
            delay = rng.uniform(0.0, 0.4)
            _crash_during(h, argv, delay)
            seen.append(f"{op}@{delay:.2f}s")
            h.serve()
            assert _settled(h) == set(), (point, seen, h.log_tail())
        # exact points: the event arrives, the supervisor dies before recording it
        for event, argv in [("started", ["start", "minimal", "--id", "x1"]),
                            ("started", ["restart", "base"]),
                            ("stopped", ["stop", "base"]),
                            ("died", ["kill"])]:  # fmt: skip
            if argv[0] != "start" and "base" not in [r["id"] for r in h.status()]:
                h.start("minimal", "--id", "base")  # the random part stopped it
                _settled(h)
            h.kill_supervisor()  # restarted with the crash point set; its kernels live on
            h.env["JUPYTER_SUPERVISOR_CRASH_AT"] = event
            h.serve()
            if argv == ["kill"]:
                os.kill(rng.choice([r["pid"] for r in h.status() if r["pid"]]), signal.SIGKILL)
            else:
                h.cli(*argv, check=False)
            wait_for(lambda: h.proc is not None and h.proc.poll() is not None, timeout=60,
                     what=f"the supervisor crashing at {event}")  # fmt: skip
            h.wait_exit()
            del h.env["JUPYTER_SUPERVISOR_CRASH_AT"]
            seen.append(f"at {event} ({argv[0]})")
            h.serve()
            assert _settled(h) == set(), (event, seen, h.log_tail())
        h.cli("shutdown")
        assert h.wait_exit() == 0
        assert not h.kernel_processes()
        assert os.listdir(h.runtime) == []
    print(f"crash-point sweep: {len(seen)} crashes ({', '.join(seen)}), 0 unmanaged kernels")
