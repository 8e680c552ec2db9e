"""Supervision that says why (issue 14), through the real console script and real kernels.

``start`` waits for readiness and fails with the exit and the kernel's output; restart
policies ``always`` / ``on-failure`` / ``never`` (a clean exit is not a failure); backoff
between restarts of a crash loop (each gap at least 1.3x the one before; a stop during the
wait ends it for good); ``last_exit`` and ``next_restart_at`` in ``status --json``; ``logs
--output`` (and ``-f``); ``--cwd`` and ``--env`` from the caller.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernels.support import MINIMAL_KERNEL
from supervisor_helpers import SCRIPT, Harness, running_harness, wait_for, write_spec

from jupyter_client.supervisor.service.clean import PORTS
from jupyter_client.supervisor.service.table import format_table, short_ids

KERNEL = [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}"]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path) as harness:
        write_spec(harness.jpath, "quitter", [*KERNEL, "--crash-after", "1", "--exit-code", "0"])
        yield harness


def events(h: Harness, kid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(h.cli("logs", kid, "--json", "-n", "100").stdout)
    return out


def test_a_crash_loop_start_fails_naming_the_exit_and_backs_off(h: Harness) -> None:
    h.serve()
    out = h.cli("start", "crasher", "--id", "loop", "--backoff", "0.2", "--backoff-max", "10",
                "--restart-policy", "on-failure:5", check=False)  # fmt: skip
    print("start:", out.returncode, out.stderr)
    assert out.returncode == 1
    assert "kernel loop died before it was ready: exit code 1" in out.stderr
    assert "crashing at start (--crash-at-start)" in out.stderr
    row = wait_for(lambda: (r := h.row("loop"))["state"] == "backoff" and r, what="backoff")
    assert row["next_restart_at"] is not None and row["next_restart_at"] > time.time() - 1
    assert row["last_exit"]["code"] == 1 and row["last_exit"]["signal"] is None
    assert row["last_exit"]["reason"].startswith("exit code 1")
    assert row["last_exit"]["oom"] in (False, None)  # never guessed: null without a counter
    print(h.cli("status").stdout)
    dead = wait_for(lambda: (r := h.row("loop"))["state"] == "dead" and r, timeout=60,
                    what="dead")  # fmt: skip
    assert "gave up after 5 restarts (restart limit 5)" in dead["last_exit"]["reason"]
    ev = events(h, "loop")
    starts = [e["at"] for e in ev if e["kind"] == "started"]
    deaths = [e["at"] for e in ev if e["kind"] == "died"]
    gaps = [s - d for d, s in zip(deaths, starts[1:], strict=False)]
    print("backoff gaps (s):", [round(g, 3) for g in gaps])
    assert len(gaps) == 5
    assert all(b >= 1.3 * a for a, b in itertools.pairwise(gaps)), gaps
    logs = h.cli("logs", "loop").stdout
    print(logs)
    assert "backoff" in logs and "restart 2 of 5 in" in logs
    output = h.cli("logs", "loop", "--output").stdout
    print(output)
    assert output.count("crashing at start") == 6  # the first launch and five restarts


def test_a_stop_during_the_backoff_is_for_good(h: Harness) -> None:
    h.serve()
    h.cli("start", "crasher", "--id", "c", "--backoff", "3", check=False)
    wait_for(lambda: h.row("c")["state"] == "backoff", what="backoff")
    h.start("minimal", "--id", "other")  # another kernel's start does not wait for c's delay:
    assert h.row("c")["state"] == "backoff"  # c is still waiting when it has returned
    h.cli("stop", "c")
    time.sleep(4)  # past the restart that was due
    assert all(r["id"] != "c" for r in h.status())


@pytest.mark.parametrize(
    ("policy", "state"), [("on-failure", "exited"), ("always", "restarted"), ("never", "exited")]
)
def test_a_clean_exit_follows_the_policy(h: Harness, policy: str, state: str) -> None:
    h.serve()
    h.start("quitter", "--id", "q", "--restart-policy", policy, "--backoff", "0")
    if state == "restarted":
        wait_for(lambda: "restarted" in [e["kind"] for e in events(h, "q")], what="restart")
        assert h.row("q")["last_exit"]["code"] == 0
        return
    row = wait_for(lambda: (r := h.row("q"))["state"] == "exited" and r, what="exited")
    assert row["restarts"] == 0 and row["pid"] is None
    assert row["last_exit"]["code"] == 0
    assert "not restarted: a clean exit" in row["last_exit"]["reason"]
    assert "code 0" in h.cli("status").stdout  # the EXIT column
    h.cli("restart", "q")  # an exited kernel can be started again by hand
    assert h.row("q")["pid"] is not None


def test_start_takes_the_callers_directory_and_environment(h: Harness, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    script = ("import json, os, sys; json.dump({'cwd': os.getcwd(), 'foo': os.environ.get('FOO'),"
              " 'spec': os.environ.get('SPEC')}, open(sys.argv[1], 'w'))")  # fmt: skip
    spec_dir = tmp_path / "elsewhere" / "kernels" / "reporter"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", script, str(report)], "display_name": "reporter",
        "env": {"SPEC": "from-spec", "FOO": "spec-value"},
    }))  # fmt: skip
    h.serve()
    work = tmp_path / "work"
    work.mkdir()
    env = dict(h.env, JUPYTER_PATH=str(tmp_path / "elsewhere"))  # only the caller knows it
    out = subprocess.run([SCRIPT, "start", "reporter", "--id", "r", "--no-wait", "--env",
                          "FOO=from-cli", "--restart-policy", "never"], env=env, cwd=work,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    got = wait_for(lambda: report.exists() and json.loads(report.read_text() or "null"),
                   what="report")  # fmt: skip
    assert got == {"cwd": str(work), "foo": "from-cli", "spec": "from-spec"}
    missing = h.cli("start", "minimal", "--cwd", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_logs_output_follows_what_the_kernel_writes(h: Harness) -> None:
    h.serve()
    h.cli("start", "crasher", "--id", "f", "--backoff", "0.5", "--restart-policy",
          "on-failure:5", check=False)  # fmt: skip
    argv = [SCRIPT, "logs", "f", "--output", "-f", "-n", "0"]
    follow = subprocess.Popen(argv, env=h.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    try:
        assert follow.stdout is not None
        line = follow.stdout.readline()  # the next launch's output, as it is written
        assert "crashing at start" in line
    finally:
        follow.kill()
        follow.wait(10)


@pytest.mark.parametrize("action", ["report", "restart"])
def test_a_kernel_that_beats_but_does_not_answer_is_wedged(h: Harness, action: str) -> None:
    """Liveness is not readiness: the kernel's heartbeat thread echoes, its main loop (shell
    and control) is deadlocked. ``--wedged-after 1`` notices within a few seconds."""
    write_spec(h.jpath, "wedging", [*KERNEL, "--wedge-after", "1.5"])
    h.serve()
    h.start("wedging", "--id", "w", "--wedged-after", "1", "--on-wedged", action)
    began = time.monotonic()
    wait_for(lambda: "wedged" in [e["kind"] for e in events(h, "w")], timeout=30, what="wedged")
    print(f"wedged noticed {time.monotonic() - began - 1.5:.1f} s after the kernel wedged")
    row = h.row("w")
    assert row["missed_beats"] == 0  # its heartbeat never stopped
    if action == "report":
        assert row["state"] == "wedged" and "within 1 s" in row["wedged"]
        assert row["restarts"] == 0 and row["pid"] is not None
    else:  # restarted: the new process answers again (until it wedges in its turn)
        wait_for(lambda: "stopped" in [e["kind"] for e in events(h, "w")], what="restart")
    table = h.cli("status").stdout
    print(table)


def test_a_stopped_kernel_is_unresponsive_before_it_is_hung(h: Harness) -> None:
    """SIGSTOP: its heartbeat goes silent; the row says ``unresponsive`` with the count of
    missed beats (it used to say ``idle`` until the kernel was killed as hung); SIGCONT before
    ``--hung-after`` and it is itself again, never killed."""
    h.serve("--hung-after", "50")
    kid = h.start("minimal", "--id", "s")
    pid = wait_for(lambda: h.row(kid)["pid"], what="pid")
    os.kill(pid, signal.SIGSTOP)
    try:
        row = wait_for(lambda: (r := h.row(kid))["state"] == "unresponsive" and r, what="state")
        assert row["missed_beats"] >= 1
        print(h.cli("status").stdout)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: h.row(kid)["state"] == "idle", what="idle again")
    assert h.row(kid)["pid"] == pid and h.row(kid)["restarts"] == 0


def test_the_clis_client_commands_import_neither_trio_nor_zmq() -> None:
    code = ("import sys, jupyter_client.supervisor.service.cli; "
            "print(sorted(m for m in ('trio', 'zmq') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_status_header_short_ids_and_colour(h: Harness) -> None:
    h.serve()
    kid = h.start("minimal")  # a uuid
    out = h.cli("status").stdout
    print(out)
    first = out.splitlines()[0]
    assert first.startswith("supervisor ") and " up " in first and first.endswith("(1 kernel)")
    assert kid[:8] in out and kid not in out  # docker-style short ids; --json has them whole
    assert h.cli("logs", kid[:8]).returncode == 0  # and every command takes the prefix
    assert "\x1b[" not in out  # not a terminal: no colour
    rows = [{"id": "a" * 12, "name": "x", "state": "dead", "pid": None, "restarts": 0}]
    coloured = format_table(rows, colour=True)
    assert "\x1b[31mdead\x1b[0m" in coloured
    assert short_ids(["abcdefgh1", "abcdefgh2", "zz"]) == {
        "abcdefgh1": "abcdefgh1", "abcdefgh2": "abcdefgh2", "zz": "zz"}  # fmt: skip


def test_status_watch_outlives_the_supervisor(h: Harness) -> None:
    h.serve()
    h.start("minimal", "--id", "k")
    watch = subprocess.Popen([SCRIPT, "status", "--watch", "--interval", "0.2"], env=h.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert watch.stdout is not None
        seen = b""
        while b"(1 kernel)" not in seen:
            seen += watch.stdout.read1(4096)
        h.cli("shutdown")
        seen = b""
        while b"no supervisor is running (since" not in seen:
            seen += watch.stdout.read1(4096)
        time.sleep(0.5)
        assert watch.poll() is None  # still watching, like top
    finally:
        watch.kill()
        watch.wait(10)


def test_clean_removes_only_the_files_of_kernels_that_are_gone(h: Harness) -> None:
    """A dead kernel's file goes; a live unmanaged kernel's file, the supervisor's own kernels'
    files and an unreadable file stay (``--dry-run`` removes nothing)."""
    h.serve()
    managed = h.start("minimal", "--id", "mine")
    h.runtime.mkdir(exist_ok=True)
    free = []
    for _ in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free.append(s.getsockname()[1])
    dead = h.runtime / "kernel-dead.json"
    dead.write_text(json.dumps({**dict(zip(PORTS, free, strict=True)), "ip": "127.0.0.1",
                                "transport": "tcp", "key": "x"}))  # fmt: skip
    (h.runtime / "kernel-junk.json").write_text("{not json")
    live_file = h.runtime / "kernel-live.json"
    live_ports = []
    for _ in range(5):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            live_ports.append(s.getsockname()[1])
    live_file.write_text(json.dumps({**dict(zip(PORTS, live_ports, strict=True)),
                                     "ip": "127.0.0.1", "transport": "tcp", "key": "k",
                                     "signature_scheme": "hmac-sha256"}))  # fmt: skip
    live = subprocess.Popen([sys.executable, MINIMAL_KERNEL, "-f", str(live_file)])
    try:
        wait_for(lambda: _listening(live_ports[0]), what="the unmanaged kernel's ports")
        dry = h.cli("clean", "--dry-run").stdout
        print(dry)
        assert f"would remove {dead}" in dry and dead.exists()
        out = h.cli("clean").stdout
        print(out)
        assert f"removed {dead}" in out and not dead.exists()
        assert "kept: a process holds its ports" in out and live_file.exists()
        assert "kept: unreadable" in out and (h.runtime / "kernel-junk.json").exists()
        assert managed not in out.replace("mine.json", "")  # never judged, never removed
        assert (h.runtime / "kernel-mine.json").exists()
    finally:
        live.kill()
        live.wait(10)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_stopped_kernel_keeps_its_record_and_output_for_a_while(h: Harness) -> None:
    h.serve()
    h.cli("start", "crasher", "--id", "gone", "--restart-policy", "never", check=False)
    wait_for(lambda: h.row("gone")["state"] == "dead", what="dead")
    h.cli("stop", "gone")
    assert all(r["id"] != "gone" for r in h.status())  # not among the supervised
    rows = json.loads(h.cli("status", "--json", "--all").stdout)
    old = next(r for r in rows if r["id"] == "gone")
    assert old["state"] == "stopped" and old["last_exit"]["code"] == 1
    assert "gave up after 0 restarts" in old["last_exit"]["reason"]
    assert "died" in h.cli("logs", "gone").stdout  # the lifecycle events
    assert "crashing at start" in h.cli("logs", "gone", "--output").stdout  # and the output
    assert "stopped" in h.cli("status", "--all").stdout
    h.start("minimal", "--id", "gone")  # the id can be used again: the history entry goes
    assert [r["state"] for r in json.loads(h.cli("status", "--json", "--all").stdout)
            if r["id"] == "gone"] != ["stopped"]  # fmt: skip


CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def _limited_cgroup(limit_mb: int) -> Path | None:
    """A fresh memory cgroup (v1 or v2) limited to ``limit_mb`` MB, or None if we may not."""
    name = f"jupyter-supervisor-test-{os.getpid()}"
    v2 = Path("/sys/fs/cgroup")
    for base, limit_files in ((CGROUP_V1, ("memory.limit_in_bytes",
                                           "memory.memsw.limit_in_bytes")),
                              (v2, ("memory.max", "memory.swap.max"))):  # fmt: skip
        if not (base / "cgroup.procs").exists():
            continue
        try:
            group = base / name
            group.mkdir()
        except OSError:
            continue
        try:
            for i, f in enumerate(limit_files):
                value = "0" if f == "memory.swap.max" else str(limit_mb << 20)
                if (group / f).exists():
                    (group / f).write_text(value)
                elif i == 0:
                    raise OSError(f"no {f}")
            return group
        except OSError:
            group.rmdir()
    return None


def test_an_oom_kill_is_named_as_such(h: Harness) -> None:
    """``last_exit.oom`` is true only when the kernel's memory cgroup counted an OOM kill: a
    supervisor in a 250 MB cgroup, a kernel that allocates 600 MB."""
    group = _limited_cgroup(250)
    if group is None:
        pytest.skip("cannot create a memory cgroup here (needs root and a writable cgroupfs)")
    write_spec(h.jpath, "glutton", [*KERNEL, "--eat-memory", "600"])
    try:
        proc = h.serve()
        (group / "cgroup.procs").write_text(str(proc.pid))  # its kernels are born in it
        h.start("glutton", "--id", "g", "--restart-policy", "never")
        row = wait_for(lambda: (r := h.row("g"))["state"] == "dead" and r, what="oom death")
        print(row["last_exit"])
        assert row["last_exit"]["signal"] == "SIGKILL" and row["last_exit"]["oom"] is True
        assert "killed by SIGKILL (out of memory)" in row["last_exit"]["reason"]
        assert "oom" in h.cli("status").stdout  # the EXIT column
        h.start("minimal", "--id", "m")  # killed by hand: not an OOM kill
        os.kill(h.row("m")["pid"], signal.SIGKILL)
        other = wait_for(lambda: (r := h.row("m"))["last_exit"] and r, what="death")
        assert other["last_exit"]["oom"] is False
    finally:
        h.close()
        with contextlib.suppress(OSError):
            group.rmdir()
