"""`jupyter-kernel` through the real console script, with a real ipykernel and real signals.

Each test starts the app as a subprocess, reads the connection file it reports on stderr,
connects our BlockingKernelClient, and stops the app: by SIGTERM/SIGINT (as upstream: exit 0,
kernel gone, connection file removed) or by the kernel exiting on its own (ours only: the app
follows the kernel instead of waiting forever). Upstream's console script runs the same signal
scenario, so exit status and log lines are compared, not assumed.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from app_helpers import (
    OURS_BIN,
    STARTUP,
    THEIRS_BIN,
    App,
    app_env,
    gone,
    processes_using,
    run,
    runtime_files,
)

from jupyter_client import BlockingKernelClient

OURS = OURS_BIN / "jupyter-kernel"
THEIRS = THEIRS_BIN / "jupyter-kernel"


def kernel_pid_via_client(connection_file: str) -> int:
    """Connect our blocking client, run code, and return the kernel's pid it printed."""
    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels()
    outputs: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "stream":
            outputs.append(msg["content"]["text"])

    try:
        kc.wait_for_ready(timeout=STARTUP)
        reply = kc.execute_interactive(
            "import os; print('pid', os.getpid())", timeout=STARTUP, output_hook=hook
        )
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
    m = re.search(r"pid (\d+)", "".join(outputs))
    assert m, outputs
    return int(m.group(1))


def assert_clean(base: Path) -> None:
    assert runtime_files(base) == []
    assert processes_using(base) == []


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("exe", [OURS, THEIRS], ids=["ours", "upstream"])
def test_signal_shuts_kernel_down(exe: Path, signo: int, tmp_path: Path) -> None:
    """Report the connection file, serve a client, and on the signal: kernel down, file
    removed, exit status 0 — the same for upstream's app and ours."""
    with App(exe, ["--kernel=python3"], app_env(tmp_path)) as app:
        cf = app.read_until(r"Connection file: (\S+)").group(1)
        name = app.read_until(r"To connect a client: --existing (\S+)").group(1)
        assert name == os.path.basename(cf)
        assert re.fullmatch(r"kernel-[0-9a-f-]{36}\.json", name)
        assert Path(cf).parent == tmp_path / "rt"
        assert "[KernelApp] Starting kernel 'python3'" in app.text
        pid = kernel_pid_via_client(cf)
        assert psutil.Process(pid).ppid() == app.proc.pid  # the app's own child
        app.proc.send_signal(signo)
        rc = app.wait()
    assert rc == 0, app.text
    assert f"[KernelApp] Shutting down on signal {int(signo)}" in app.text
    assert gone(pid)
    assert not Path(cf).exists()
    assert_clean(tmp_path)


def test_kernel_exiting_on_its_own_ends_the_app(tmp_path: Path) -> None:
    """A client's shutdown_request stops the kernel: our app cleans up and exits 0 (upstream
    would wait for a signal with a dead kernel and a stale connection file)."""
    with App(OURS, [], app_env(tmp_path)) as app:
        cf = app.read_until(r"Connection file: (\S+)").group(1)
        assert "Starting kernel 'python3'" in app.text  # KernelApp.kernel_name default
        pid = kernel_pid_via_client(cf)
        kc = BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=STARTUP)
            kc.shutdown()
            rc = app.wait()  # channels stay open until the request surely went out
        finally:
            kc.stop_channels()
    assert rc == 0, app.text
    assert "Kernel exited on its own (status 0)" in app.text
    assert gone(pid)
    assert_clean(tmp_path)


def test_kernel_crash_ends_the_app_with_status_1(tmp_path: Path) -> None:
    with App(OURS, ["--kernel", "python3"], app_env(tmp_path)) as app:
        cf = app.read_until(r"Connection file: (\S+)").group(1)
        pid = kernel_pid_via_client(cf)
        os.kill(pid, signal.SIGKILL)
        rc = app.wait()
    assert rc == 1, app.text
    assert "Kernel exited on its own (status -9)" in app.text
    assert_clean(tmp_path)


def test_unknown_kernel_is_one_clear_line(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    ours, theirs = run(OURS, ["--kernel=no-such"], env), run(THEIRS, ["--kernel=no-such"], env)
    assert ours.returncode == theirs.returncode == 1
    assert "No such kernel named 'no-such'" in ours.stderr
    assert "Traceback" not in ours.stderr  # upstream prints two
    assert_clean(tmp_path)


def test_ip_and_connection_file_options(tmp_path: Path) -> None:
    """``--ip`` (KernelManager.ip) and ``--KernelManager.connection_file`` reach the manager;
    the file named on the command line is used and removed at the end."""
    cf = tmp_path / "mine.json"
    args = ["--ip=127.0.0.1", f"--KernelManager.connection_file={cf}"]
    with App(OURS, args, app_env(tmp_path)) as app:
        reported = app.read_until(r"Connection file: (\S+)").group(1)
        assert reported == str(cf)
        assert '"ip": "127.0.0.1"' in cf.read_text()
        kernel_pid_via_client(reported)
        app.proc.send_signal(signal.SIGTERM)
        assert app.wait() == 0, app.text
    assert not cf.exists()
    assert_clean(tmp_path)


def test_signal_during_startup_still_shuts_down(tmp_path: Path) -> None:
    """The handlers are installed before the kernel starts: a SIGTERM sent as soon as the
    app logs 'Starting kernel' waits for the start, then shuts the kernel down cleanly."""
    with App(OURS, ["--kernel=python3"], app_env(tmp_path)) as app:
        app.read_until(r"Starting kernel")
        app.proc.send_signal(signal.SIGTERM)
        rc = app.wait()
    assert rc == 0, app.text
    assert "Shutting down on signal 15" in app.text
    assert_clean(tmp_path)
