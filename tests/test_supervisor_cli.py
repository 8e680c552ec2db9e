"""End-to-end tests of ``jupyter-supervisor`` through the real console script.

Every test has its own runtime dir and always stops the supervisor and every kernel
(``Harness.close`` in ``finally``), so the suite's leak check holds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from supervisor_helpers import SCRIPT, Harness, running_harness, wait_for

from jupyter_client.protocol.port_claims import SharedClaims

KEYS = {"id", "name", "state", "pid", "restarts", "uptime_s", "cpu_percent", "rss_bytes",
        "last_activity", "connection_file", "restart_policy", "next_restart_at",
        "last_exit", "missed_beats", "wedged"}  # fmt: skip


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path) as harness:
        yield harness


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_lifecycle_commands(h: Harness) -> None:
    h.serve()
    assert mode(h.runtime / "jupyter-supervisor.sock") == 0o600
    assert mode(h.runtime / "jupyter-supervisor.key") == 0o600
    assert mode(h.runtime / "jupyter-supervisor-state.json") == 0o600
    k1 = h.start("minimal", "--id", "one")
    assert k1 == "one"
    k2 = h.start()
    assert len(k2) == 36  # a uuid
    rows = wait_for(lambda: (r := h.status()) and all(x["state"] == "idle" for x in r) and r,
                    what="both idle")  # fmt: skip
    assert {r["id"] for r in rows} == {"one", k2}
    for r in rows:
        assert set(r) == KEYS
        assert r["name"] == "minimal" and r["restarts"] == 0
        assert psutil.pid_exists(r["pid"]) and r["rss_bytes"] > 0 and r["uptime_s"] >= 0
    table = h.cli("status").stdout
    assert table.splitlines()[0].startswith("supervisor ")  # pid, uptime, socket, count
    assert table.splitlines()[2].split()[:3] == ["ID", "KERNELSPEC", "STATE"]
    assert "one" in table and k2[:8] in table
    assert "one\tminimal\tidle" in h.cli("list").stdout
    cf = h.cli("connect-info", "one").stdout.strip()
    assert cf == str(h.runtime / "kernel-one.json") and mode(Path(cf)) == 0o600
    info = json.loads(h.cli("connect-info", "one", "--json").stdout)
    assert info["shell_port"] > 0 and info["kernel_name"] == "minimal"
    claims = SharedClaims(str(h.claims), sweep_every=None)
    ports = [info[n] for n in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]
    assert {claims.owner(p) for p in ports} == {h.proc.pid if h.proc else None}
    assert "interrupted one" in h.cli("interrupt", "one").stdout
    pid = h.row("one")["pid"]
    h.cli("restart", "one")
    new = wait_for(lambda: (r := h.row("one"))["pid"] not in (None, pid) and r, what="restart")
    assert new["restarts"] == 0  # a requested restart is not a policy restart
    logs = h.cli("logs", "one").stdout
    assert "started" in logs and "stopped" in logs and "interrupted" in logs
    assert h.cli("stop", "one").stdout.strip() == "stopped one"
    assert [r["id"] for r in h.status()] == [k2]
    assert not Path(cf).exists()
    # A kernel that restarted keeps its ports; a stopped one gives up their claims.
    assert {claims.owner(p) for p in ports} == {None}
    assert h.cli("stop", "--all").stdout.strip() == f"stopped {k2}"
    assert h.status() == []
    assert h.cli("shutdown").returncode == 0
    assert h.wait_exit() == 0
    assert os.listdir(h.runtime) == []


def test_sigkill_kernel_is_restarted_and_logged(h: Harness) -> None:
    h.serve()
    h.start("minimal", "--id", "k")
    h.start("minimal", "--id", "never", "--restart-policy", "never")
    pid = wait_for(lambda: h.row("k")["pid"], what="pid")
    os.kill(pid, signal.SIGKILL)
    row = wait_for(lambda: (r := h.row("k"))["restarts"] == 1 and r["pid"] and r, what="restart")
    assert row["pid"] != pid
    logs = h.cli("logs", "k").stdout
    assert "signal=SIGKILL" in logs and "restarted" in logs
    ev = json.loads(h.cli("logs", "k", "--json").stdout)
    assert [e["kind"] for e in ev][:5] == ["started", "died", "backoff", "restart", "started"]
    last = row["last_exit"]
    assert last["signal"] == "SIGKILL" and last["code"] is None and last["oom"] in (False, None)
    assert last["reason"].startswith("killed by SIGKILL")
    os.kill(wait_for(lambda: h.row("never")["pid"], what="pid"), signal.SIGKILL)
    wait_for(lambda: h.row("never")["state"] == "dead", what="dead")
    assert "gave up" in h.cli("logs", "never").stdout
    assert "(restart limit 0)" in h.row("never")["last_exit"]["reason"]


def test_no_supervisor_and_stale_socket(h: Harness) -> None:
    out = h.cli("status", check=False)
    assert out.returncode == 3 and "no supervisor is running" in out.stderr
    out = h.cli("status", "--json", check=False)
    assert out.returncode == 3 and json.loads(out.stdout) == []
    assert h.cli("start", "minimal", check=False).returncode == 3
    h.runtime.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(h.runtime / "jupyter-supervisor.sock"))
    stale.close()
    (h.runtime / "jupyter-supervisor.key").write_text("k")
    os.chmod(h.runtime / "jupyter-supervisor.key", 0o600)
    out = h.cli("list", check=False)
    assert out.returncode == 3 and "stale control socket" in out.stderr
    h.serve()  # replaces the stale socket
    assert h.cli("list").returncode == 0


def test_bad_input(h: Harness, tmp_path: Path) -> None:
    h.serve()
    h.start("minimal", "--id", "a")
    for args in (("stop", "nope"), ("restart", "nope"), ("interrupt", "nope"),
                 ("logs", "nope"), ("connect-info", "nope")):  # fmt: skip
        out = h.cli(*args, check=False)
        assert out.returncode == 1 and "unknown kernel id" in out.stderr, args
    out = h.cli("start", "no-such-spec", check=False)
    assert out.returncode == 1 and "no kernelspec named 'no-such-spec'" in out.stderr
    out = h.cli("start", "minimal", "--id", "a", check=False)
    assert out.returncode == 1 and "already in use" in out.stderr
    out = h.cli("start", "minimal", "--id", "../evil", check=False)
    assert out.returncode == 1 and "invalid kernel id" in out.stderr
    out = h.cli("start", "crasher", check=False)  # it spawns, then dies before it answers
    assert out.returncode == 1 and "died before it was ready: exit code 1" in out.stderr
    assert "crashing at start (--crash-at-start)" in out.stderr  # the kernel's own output
    out = h.cli("start", "crasher", "--no-wait", check=False)
    assert out.returncode == 0  # the process exists: that is all --no-wait asks
    out = h.cli("start", "minimal", "--restart-policy", "sometimes", check=False)
    assert out.returncode == 2
    second = subprocess.run([SCRIPT, "serve"], env=h.env, capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    assert second.returncode == 1 and "already running" in second.stderr
    wrong = tmp_path / "wrong.key"
    wrong.write_text("0" * 64)
    os.chmod(wrong, 0o600)
    out = h.cli("--key-file", str(wrong), "list", check=False)
    assert out.returncode == 4 and "authentication failed" in out.stderr
    os.chmod(wrong, 0o644)
    out = h.cli("--key-file", str(wrong), "list", check=False)
    assert out.returncode == 4 and "readable by other users" in out.stderr
    assert "a\tminimal" in h.cli("list").stdout  # state preserved through all of it


def test_corrupt_state_file_is_refused_and_kept(h: Harness) -> None:
    h.runtime.mkdir(parents=True)
    state = h.runtime / "jupyter-supervisor-state.json"
    state.write_text("{not json")
    out = subprocess.run([SCRIPT, "serve"], env=h.env, capture_output=True, text=True,
                         timeout=30)  # fmt: skip
    assert out.returncode == 1 and "corrupt state file" in out.stderr
    assert state.read_text() == "{not json"
    assert not (h.runtime / "jupyter-supervisor.sock").exists()
    out = h.cli("status", check=False)
    assert out.returncode == 3 and "corrupt" in out.stderr


def test_readoption_after_supervisor_sigkill(h: Harness) -> None:
    h.serve()
    for kid in ("a", "b", "c"):
        h.start("minimal", "--id", kid)
    rows = wait_for(lambda: (r := h.status()) and all(x["state"] == "idle" for x in r) and r,
                    what="idle")  # fmt: skip
    pids = {r["id"]: r["pid"] for r in rows}
    h.kill_supervisor()
    assert all(psutil.pid_exists(p) for p in pids.values())  # independent: they survive
    out = h.cli("status", "--json", check=False)
    assert out.returncode == 3
    assert {r["id"]: r["state"] for r in json.loads(out.stdout)} == dict.fromkeys("abc", "orphan")
    os.kill(pids["c"], signal.SIGKILL)  # dies while nobody supervises it
    wait_for(lambda: not psutil.pid_exists(pids["c"]) or
             psutil.Process(pids["c"]).status() == psutil.STATUS_ZOMBIE, what="c gone")  # fmt: skip
    h.serve()
    assert "2 kernel(s) re-adopted, 1 restarted" in h.ready_line
    rows = wait_for(lambda: (r := h.status()) and len(r) == 3 and
                    all(x["state"] == "idle" for x in r) and r, what="re-adopted idle")  # fmt: skip
    got = {r["id"]: r["pid"] for r in rows}
    assert {k: got[k] for k in "ab"} == {"a": pids["a"], "b": pids["b"]}
    # c died while no supervisor ran: restarted, as its policy would have done
    assert got["c"] not in (None, pids["c"]) and h.row("c")["restarts"] == 1
    assert "while no supervisor was running" in h.cli("logs", "c").stdout
    assert h.row("c")["last_exit"]["code"] is None  # nobody could collect its status
    assert "died while no supervisor ran" in h.row("c")["last_exit"]["reason"]
    assert "adopted" in h.cli("logs", "a").stdout
    os.kill(pids["a"], signal.SIGKILL)  # an adopted kernel dies: the policy restarts it
    row = wait_for(lambda: (r := h.row("a"))["restarts"] == 1 and r["pid"] and r, what="restart")
    assert row["pid"] != pids["a"]
    # not our child: its exit status is unknowable, and last_exit says so instead of guessing
    last = row["last_exit"]
    assert last["code"] is None and last["signal"] is None and last["oom"] is None
    assert "exit status unknown" in last["reason"]
    h.cli("interrupt", "b")
    h.cli("shutdown")
    assert h.wait_exit() == 0
    assert not h.kernel_processes()
    assert os.listdir(h.runtime) == []


def test_sigterm_stops_everything(h: Harness) -> None:
    proc = h.serve()
    h.start()
    h.start()
    wait_for(lambda: all(r["pid"] for r in h.status()), what="pids")
    proc.send_signal(signal.SIGTERM)
    assert h.wait_exit() == 0
    assert not h.kernel_processes()
    assert os.listdir(h.runtime) == []


def test_daemon_and_watch(h: Harness) -> None:
    out = h.cli("serve", "--daemon", "--heartbeat", "1")
    assert "serving in the background" in out.stdout
    try:
        h.start("minimal", "--id", "w")
        argv = [SCRIPT, "status", "--watch", "--interval", "0.2"]
        watch = subprocess.Popen(argv, env=h.env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(1.5)
        watch.send_signal(signal.SIGINT)
        stdout, _ = watch.communicate(timeout=10)
        assert watch.returncode == 0
        assert stdout.count("\x1b[H\x1b[2J") >= 2 and "w " in stdout
    finally:
        h.cli("shutdown", check=False)
    wait_for(lambda: not (h.runtime / "jupyter-supervisor.lock").exists(), what="stopped")


def test_make_run_demo() -> None:
    out = subprocess.run([sys.executable, "-m", "jupyter_client.demo"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DEMO OK" in out.stdout and "restarts=1" in out.stdout
