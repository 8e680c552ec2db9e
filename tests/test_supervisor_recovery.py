"""A supervisor killed at the worst moment, with damaged files: the next ``serve`` manages every
kernel again or stops it and says why (issue: a supervisor nothing can take down, findings 3,
4 and 8). Real supervisor processes, real kernels, real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest
from supervisor_helpers import SCRIPT, Harness, running_harness, wait_for

pytestmark = pytest.mark.timeout(180)


def _idle(h: Harness, n: int) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        rows = h.status()
        return rows if len(rows) == n and all(r["state"] == "idle" for r in rows) else None

    return wait_for(ready, what=f"{n} idle kernel(s)")


def _kernel_info(connection_file: Path) -> str:
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient(connection_file=str(connection_file))
    kc.load_connection_file()
    kc.start_channels()
    try:
        reply = kc.kernel_info(reply=True, timeout=30)
        return str(reply["content"]["status"])
    finally:
        kc.stop_channels()


def test_lost_or_damaged_connection_files_are_rebuilt_and_the_rest_served(tmp_path: Path) -> None:
    """Finding 3: a missing, empty or incomplete connection file used to make every later
    ``serve`` exit (``KeyError: 'ip'``); each kernel's files now stand alone."""
    with running_harness(tmp_path) as h:
        h.serve()
        kids = ("gone", "empty", "partial", "ok")
        for kid in kids:
            h.start("minimal", "--id", kid)
        pids = {r["id"]: r["pid"] for r in _idle(h, 4)}
        files = {kid: h.runtime / f"kernel-{kid}.json" for kid in kids}
        before = {kid: json.loads(f.read_text()) for kid, f in files.items()}
        h.kill_supervisor()
        files["gone"].unlink()
        files["empty"].write_text("")
        files["partial"].write_text(json.dumps({"transport": "tcp"}))
        h.serve()
        assert "4 kernel(s) re-adopted" in h.ready_line, h.log_tail()
        assert {r["id"]: r["pid"] for r in _idle(h, 4)} == pids
        for kid in kids:  # the same ports and key as before: clients made earlier still work
            assert json.loads(files[kid].read_text()) == before[kid], kid
        assert _kernel_info(files["gone"]) == "ok"
        h.cli("shutdown")
        assert h.wait_exit() == 0


def test_a_kernel_nobody_could_reach_is_stopped_and_the_rest_served(tmp_path: Path) -> None:
    """No copy of its connection info anywhere (a state file from before copies were kept):
    that kernel is stopped, with a log line saying why; the others are adopted."""
    with running_harness(tmp_path) as h:
        h.serve()
        h.start("minimal", "--id", "lost")
        h.start("minimal", "--id", "kept")
        pids = {r["id"]: r["pid"] for r in _idle(h, 2)}
        h.kill_supervisor()
        state_file = h.runtime / "jupyter-supervisor-state.json"
        state = json.loads(state_file.read_text())
        for rec in state["kernels"]:
            if rec["id"] == "lost":
                rec.pop("connection")
        state_file.write_text(json.dumps(state))
        (h.runtime / "kernel-lost.json").unlink()
        h.serve()
        assert "1 kernel(s) re-adopted" in h.ready_line, h.log_tail()
        assert [r["id"] for r in _idle(h, 1)] == ["kept"]
        wait_for(lambda: not _alive(pids["lost"]), what="the unreachable kernel stopped")
        assert "kernel lost" in h.log_tail() and "missing or damaged" in h.log_tail()
        assert _alive(pids["kept"])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_supervisor_killed_between_fork_and_record_leaves_no_unmanaged_kernel(
    tmp_path: Path,
) -> None:
    """Finding 4: the supervisor SIGKILLs itself as the kernel's ``started`` event arrives,
    before recording it. The record written before the spawn lets the next ``serve`` find
    the kernel (by its connection file in the argv), and ``stop --all`` reaches it."""
    with running_harness(tmp_path) as h:
        h.env["JUPYTER_SUPERVISOR_CRASH_AT"] = "started"
        h.serve()
        out = h.cli("start", "minimal", "--id", "k", check=False)
        assert out.returncode != 0
        assert h.wait_exit() == -signal.SIGKILL
        orphans = wait_for(h.kernel_processes, what="the kernel, orphaned")
        state = json.loads((h.runtime / "jupyter-supervisor-state.json").read_text())
        assert [(r["id"], r["pid"]) for r in state["kernels"]] == [("k", None)]
        del h.env["JUPYTER_SUPERVISOR_CRASH_AT"]
        h.serve()
        assert "1 kernel(s) re-adopted" in h.ready_line, h.log_tail()
        (row,) = _idle(h, 1)
        assert row["pid"] in {p.pid for p in orphans}
        h.cli("stop", "--all")
        wait_for(lambda: not h.kernel_processes(), what="stop --all reaching it")


def test_leftovers_of_a_crash_are_cleaned_and_claims_renamed(tmp_path: Path) -> None:
    """Finding 8: a temporary file of an interrupted write is removed at the next ``serve``;
    the adopted kernels' port claims name the new supervisor, not the dead one."""
    with running_harness(tmp_path) as h:
        h.serve()
        h.start("minimal", "--id", "k")
        _idle(h, 1)
        h.kill_supervisor()
        tmp = h.runtime / "jupyter-supervisor-state.json.999999.tmp"
        tmp.write_text("{half a")
        proc = h.serve()
        assert not tmp.exists()
        info = json.loads((h.runtime / "kernel-k.json").read_text())
        ports = [info[n] for n in ("shell_port", "iopub_port", "stdin_port", "control_port",
                                   "hb_port")]  # fmt: skip
        owners = {(h.claims / str(p)).read_text().split()[0] for p in ports}
        assert owners == {str(proc.pid)}


@pytest.mark.parametrize(
    "content",
    [b"null", b"[]", b'{"version": 1, "pid": "abc", "create_time": 0, "kernels": []}',
     b"[" * 100_000, b'{"version": 1, "pid": 1, "create_time": 0, "kernels": [7]}', b"\xff"],
    ids=["null", "list", "pid-abc", "deep", "kernel-not-object", "not-utf8"],
)  # fmt: skip
def test_a_corrupt_state_file_of_any_shape_is_one_line_and_kept(
    tmp_path: Path, content: bytes
) -> None:
    h = Harness(tmp_path)
    h.runtime.mkdir(parents=True)
    state = h.runtime / "jupyter-supervisor-state.json"
    state.write_bytes(content)
    out = subprocess.run([SCRIPT, "serve"], env=h.env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "corrupt state file" in out.stderr
    assert state.read_bytes() == content
    status = subprocess.run([SCRIPT, "status"], env=h.env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert status.returncode == 3 and "Traceback" not in status.stderr
    assert not os.path.exists(h.runtime / "jupyter-supervisor.sock")
