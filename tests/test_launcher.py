"""launch_kernel with real processes: parent-death signal, independence, env and cwd."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from jupyter_client.actors.launch import pdeathsig_supported, prepare_launch
from jupyter_client.launcher import launch_kernel

PY = sys.executable
linux_only = pytest.mark.skipif(not pdeathsig_supported(), reason="needs Linux prctl")

# An intermediate "host" process: launches a sleeping kernel, prints its pid, then waits.
HOST = """
import sys, time
from jupyter_client.launcher import launch_kernel
p = launch_kernel([sys.executable, "-c", "import time; time.sleep(60)"],
                  independent=sys.argv[1] == "1")
print(p.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int, timeout: float = 10.0) -> bool:
    try:
        proc = psutil.Process(pid)
        proc.wait(timeout=timeout)  # works for non-children too (polls)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        try:
            return proc.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    return True


def _host(independent: bool) -> tuple[subprocess.Popen[str], int]:
    host = subprocess.Popen([PY, "-c", HOST, "1" if independent else "0"],
                            stdout=subprocess.PIPE, text=True, cwd="/")  # fmt: skip
    assert host.stdout is not None
    kernel_pid = int(host.stdout.readline())
    return host, kernel_pid


@linux_only
def test_kernel_dies_with_sigkilled_parent() -> None:
    host, kernel_pid = _host(independent=False)
    try:
        assert psutil.pid_exists(kernel_pid)
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=30)
        assert _gone(kernel_pid)
    finally:
        host.kill()
        host.wait(timeout=30)
        host.stdout.close()  # type: ignore[union-attr]


def test_independent_kernel_survives() -> None:
    host, kernel_pid = _host(independent=True)
    try:
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=30)
        kernel = psutil.Process(kernel_pid)
        assert not _gone(kernel_pid, timeout=0.5)
        assert "JPY_PARENT_PID" not in kernel.environ()
    finally:
        try:
            psutil.Process(kernel_pid).kill()
        except psutil.NoSuchProcess:
            pass
        host.kill()
        host.wait(timeout=30)
        host.stdout.close()  # type: ignore[union-attr]
    assert _gone(kernel_pid)


@linux_only
def test_launch_from_short_lived_thread_survives_thread_exit() -> None:
    box: dict[str, subprocess.Popen[bytes]] = {}
    code = "import sys; print('up', flush=True); sys.stdin.read(); import time; time.sleep(60)"

    def worker() -> None:
        box["p"] = launch_kernel([PY, "-c", code], stdout=subprocess.PIPE)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    p = box["p"]
    try:
        assert p.stdout is not None and p.stdout.readline() == b"up\n"
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.5)  # the forking thread is gone, the kernel is not
    finally:
        p.kill()
        p.wait(timeout=30)
        p.stdout.close()  # type: ignore[union-attr]


def test_env_cwd_stdin_and_expanduser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "script.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'cwd': os.getcwd(), 'ppid': os.environ.get('JPY_PARENT_PID'),"
        " 'x': os.environ.get('X'), 'stdin': sys.stdin.read(),"
        " 'sid': os.getsid(0) == os.getpid()}))\n"
    )
    env = {"X": "1", "PATH": os.environ["PATH"]}
    p = launch_kernel([PY, "~/script.py"], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE)
    assert p.stdout is not None
    with p.stdout:
        out = p.stdout.read()
    p.wait(timeout=30)
    info = json.loads(out)
    assert info == {"cwd": str(tmp_path), "ppid": str(os.getpid()), "x": "1", "stdin": "",
                    "sid": os.name != "nt"}  # fmt: skip
    assert env["JPY_PARENT_PID"] == str(os.getpid())  # passed dict updated in place
    assert p.stdin is not None and p.stdin.closed


def test_default_env_is_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JC_TEST_MARK", "yes")
    kw = prepare_launch(["x"], independent=True)
    assert kw["env"]["JC_TEST_MARK"] == "yes" and kw["env"] is not os.environ
    assert "JPY_PARENT_PID" not in kw["env"] and "preexec_fn" not in kw
    assert kw["stdin"] is subprocess.PIPE and kw["start_new_session"] is True
    dep = prepare_launch(["x"], stdin=subprocess.DEVNULL, cwd="/")
    assert dep["stdin"] == subprocess.DEVNULL and dep["cwd"] == "/"
    assert ("preexec_fn" in dep) == pdeathsig_supported()


def test_popen_failure_logged_and_reraised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(FileNotFoundError):
        launch_kernel(["/nonexistent/kernel-binary"])
    assert "Failed to run command" in caplog.text
