"""Hostile runtime directories (issue: a supervisor nothing can take down, finding 5).

``serve`` used to accept a runtime dir another user owns or can write in, and followed links
planted there: its lock file truncated a victim's file, a planted kernel log leaked a kernel's
output, a state record pointing elsewhere had its "connection file" deleted. Real supervisor
processes; the other user is ``nobody`` (needs root, as CI runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from supervisor_helpers import SCRIPT, Harness, running_harness

pytestmark = pytest.mark.timeout(120)

VICTIM = "precious\n"


def _serve_once(h: Harness) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, "serve"], env=h.env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702], ids=oct)
def test_a_runtime_dir_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    h = Harness(tmp_path)
    h.runtime.mkdir()
    h.runtime.chmod(mode)
    out = _serve_once(h)
    assert out.returncode == 1, out.stderr
    assert f"mode {oct(mode)}" in out.stderr and str(h.runtime) in out.stderr
    assert "Traceback" not in out.stderr
    assert os.listdir(h.runtime) == []  # nothing written there


def test_a_runtime_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    h = Harness(tmp_path)
    h.runtime.mkdir(mode=0o700)
    os.chown(h.runtime, 65534, 65534)
    out = _serve_once(h)
    assert out.returncode == 1, out.stderr
    assert "owned by" in out.stderr and "uid 65534" in out.stderr
    assert os.listdir(h.runtime) == []


def test_a_lock_file_link_is_not_followed(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.runtime.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text(VICTIM)
    (h.runtime / "jupyter-supervisor.lock").symlink_to(victim)
    out = _serve_once(h)
    assert out.returncode == 1 and "lock file" in out.stderr, out.stderr
    assert victim.read_text() == VICTIM


def test_a_planted_kernel_log_link_gets_no_output(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        h.serve()
        victim = tmp_path / "victim"
        victim.write_text(VICTIM)
        (h.runtime / "kernel-k.log").symlink_to(victim)
        out = h.cli("start", "minimal", "--id", "k", check=False)
        assert out.returncode == 1 and "kernel-k.log" in out.stderr, out.stderr
        assert victim.read_text() == VICTIM
        assert h.status() == []  # refused whole: nothing half-started
        assert h.start("minimal", "--id", "other")  # and the supervisor serves on


def test_a_record_pointing_outside_the_runtime_dir_deletes_nothing_there(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        h.runtime.mkdir(mode=0o700)
        victim = tmp_path / "victim.json"
        victim.write_text(VICTIM)
        dead = subprocess.Popen(["true"])
        dead.wait()
        record = {"id": "k", "name": "minimal", "connection_file": str(victim),
                  "pid": dead.pid, "create_time": 1.0}  # fmt: skip
        state = {"version": 1, "pid": 1, "create_time": 1.0, "kernels": [record]}
        (h.runtime / "jupyter-supervisor-state.json").write_text(json.dumps(state))
        h.serve()
        assert "0 kernel(s) re-adopted" in h.ready_line
        assert victim.read_text() == VICTIM
        assert "outside the runtime dir" in h.log_tail()


def test_the_port_claims_dir_must_not_be_a_link(tmp_path: Path) -> None:
    """A link in the claims dir's place could lead to a directory another user controls; the
    claims are then off (with a warning), the kernel still starts."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "claims-link"
    link.symlink_to(elsewhere)
    code = (
        "import json, logging, sys\n"
        "logging.basicConfig()\n"
        "from jupyter_client.protocol.port_claims import SharedClaims\n"
        f"c = SharedClaims({str(link)!r})\n"
        "print(json.dumps(c.claim([40001], 60.0)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd="/")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [40001]  # claims off: the port is this process's alone
    assert "not private" in out.stderr
    assert os.listdir(elsewhere) == []
