"""`jupyter-run` through the real console script, against a real ipykernel (kernelspec python3).

Where practical the same command runs with upstream's console script (.venv-kernel) and the
outputs are compared: what a script prints must be byte-identical, exit statuses equal. Our
failures end with one line naming the file instead of a Python traceback of the app.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_helpers import OURS_BIN, THEIRS_BIN, App, app_env, processes_using, run, runtime_files
from traitlets import Dict

from jupyter_client import KernelManager, consoleapp
from jupyter_client._app import JupyterApp
from jupyter_client.consoleapp import IPythonConsoleApp, JupyterConsoleApp

OURS = OURS_BIN / "jupyter-run"
THEIRS = THEIRS_BIN / "jupyter-run"

FIRST = 'print("first file")\nshared = 40\n'
FAILING = """\
import sys
print("hello")
print("to stderr", file=sys.stderr)
value = shared + 2
value
from IPython.display import HTML, display
display(HTML("<b>hi</b>"))
print("value is", value)
1 / 0
print("never printed")
"""
NOT_REACHED = 'print("third file")\n'
SLOW = """\
import time
try:  # the interrupt may land while print() still waits for its flush
    print("started", flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    print("interrupted")
    raise
print("woke up")
"""


def assert_clean(base: Path) -> None:
    """No connection file and no process (an orphaned kernel) left behind."""
    assert runtime_files(base) == []
    assert processes_using(base) == []


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    (tmp_path / "first.py").write_text(FIRST)
    (tmp_path / "failing.py").write_text(FAILING)
    (tmp_path / "third.py").write_text(NOT_REACHED)
    (tmp_path / "slow.py").write_text(SLOW)
    return tmp_path


def test_files_print_like_upstream_and_stop_at_the_first_error(scripts: Path) -> None:
    """Files share one kernel and run in order; streams, results' and displays' text/plain
    reach stdout/stderr; the first error stops the run with status 1."""
    args = ["--kernel=python3", "first.py", "failing.py", "third.py"]
    env = app_env(scripts)
    ours = run(OURS, args, env, cwd=scripts)
    assert_clean(scripts)
    theirs = run(THEIRS, args, env, cwd=scripts)
    assert_clean(scripts)
    assert ours.returncode == theirs.returncode == 1, ours.stderr
    assert ours.stdout == theirs.stdout
    assert ours.stdout == ("first file\nhello\n<IPython.core.display.HTML object>value is 42\n")
    assert "to stderr" in ours.stderr and "ZeroDivisionError" in ours.stderr
    assert ours.stderr.endswith("division by zero\njupyter-run error running 'failing.py'\n")
    assert "runapp.py" not in ours.stderr  # no traceback of the app itself
    assert "runapp.py" in theirs.stderr
    assert "Exception: jupyter-run error running 'failing.py'" in theirs.stderr


def test_stdin_like_upstream(tmp_path: Path) -> None:
    """No file: the code comes from stdin; the default kernel name 'python' means python3."""
    code = "for i in range(3):\n    print(i * i)\n"
    env = app_env(tmp_path)
    ours, theirs = run(OURS, [], env, stdin=code), run(THEIRS, [], env, stdin=code)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout == "0\n1\n4\n"
    assert_clean(tmp_path)
    failing = run(OURS, [], env, stdin="raise ValueError('bad input')\n")
    assert failing.returncode == 1
    assert failing.stderr.endswith("jupyter-run error running 'stdin'\n")
    assert_clean(tmp_path)


@pytest.fixture
def our_kernel(tmp_path: Path) -> Iterator[KernelManager]:
    """A kernel started by our KernelManager, its connection file in the test's runtime dir."""
    (tmp_path / "rt").mkdir()
    km = KernelManager(kernel_name="python3", connection_file=str(tmp_path / "rt" / "k1.json"))
    km.start_kernel()
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


def test_existing_kernel_keeps_running_and_keeps_state(
    our_kernel: KernelManager, tmp_path: Path
) -> None:
    """``--existing`` (by name in the runtime dir, or by path) reuses a running kernel, ours
    and upstream's app alike, and leaves it and its connection file alone."""
    env = app_env(tmp_path)
    cf = our_kernel.connection_file
    step1 = run(OURS, ["--existing", "k1.json"], env, stdin="a = 40\nprint('set')\n")
    assert (step1.returncode, step1.stdout) == (0, "set\n"), step1.stderr
    step2 = run(THEIRS, ["--existing", cf], env, stdin="a += 1\nprint(a)\n")
    assert (step2.returncode, step2.stdout) == (0, "41\n"), step2.stderr
    code = "print('a is', a + 1)\n"
    ours = run(OURS, ["--existing=k1.json"], env, stdin=code)
    theirs = run(THEIRS, ["--existing=k1.json"], env, stdin=code)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout == "a is 42\n"
    assert our_kernel.is_alive()
    assert Path(cf).exists()
    assert runtime_files(tmp_path) == ["k1.json"]


def test_existing_missing_connection_file(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    ours = run(OURS, ["--existing=nope.json"], env, stdin="print(1)\n")
    theirs = run(THEIRS, ["--existing=nope.json"], env, stdin="print(1)\n")
    assert ours.returncode == theirs.returncode == 1
    assert "Could not find existing kernel connection file nope.json" in ours.stderr
    assert_clean(tmp_path)


def test_unknown_kernel_and_unreadable_file(scripts: Path) -> None:
    env = app_env(scripts)
    ours = run(OURS, ["--kernel=no-such", "first.py"], env, cwd=scripts)
    theirs = run(THEIRS, ["--kernel=no-such", "first.py"], env, cwd=scripts)
    assert ours.returncode == theirs.returncode == 1
    assert "Could not find kernel 'no-such'" in ours.stderr
    assert "Could not find kernel 'no-such'" in theirs.stderr
    assert_clean(scripts)


def test_unreadable_file_is_reported_before_any_kernel_starts(scripts: Path) -> None:
    env = app_env(scripts)
    # An unknown kernel fails only once the kernel is started: the file must be read first.
    nofile = run(OURS, ["--kernel=no-such", "nofile.py"], env, cwd=scripts)
    assert nofile.returncode == 1
    assert nofile.stderr == "jupyter-run cannot read 'nofile.py': No such file or directory\n"
    # With a missing file among others no file runs (upstream runs the ones before it).
    missing = run(OURS, ["first.py", "missing.py", "third.py"], env, cwd=scripts)
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr == "jupyter-run cannot read 'missing.py': No such file or directory\n"
    assert_clean(scripts)


def test_output_timeout_gives_up_and_cleans_up(scripts: Path) -> None:
    """A file still running after ``RunApp.output_timeout`` fails with a message naming the
    file and the setting; the kernel, still busy, is shut down anyway."""
    args = ["--RunApp.output_timeout=1", "slow.py"]
    done = run(OURS, args, app_env(scripts), cwd=scripts)
    assert done.returncode == 1
    assert "woke up" not in done.stdout
    assert "gave up on 'slow.py': still running after 1 s" in done.stderr
    assert "RunApp.output_timeout" in done.stderr
    assert_clean(scripts)


def test_ctrl_c_interrupts_the_kernel(scripts: Path) -> None:
    """SIGINT to jupyter-run interrupts the kernel it started: the file fails with
    KeyboardInterrupt (status 1) and the kernel is shut down."""
    with App(OURS, ["slow.py"], app_env(scripts), watch="stdout", cwd=scripts) as app:
        app.read_until("started")
        app.proc.send_signal(signal.SIGINT)
        rc = app.wait()
    assert rc == 1
    assert "interrupted" in app.text  # the app was still relaying the kernel's output
    assert "woke up" not in app.text
    assert_clean(scripts)


def test_connection_file_name_and_ipc_transport_like_upstream(tmp_path: Path) -> None:
    """``-f NAME`` places the connection file in the runtime dir, ``--transport=ipc`` puts the
    sockets next to it (``NAME-ipc-N``); all of it is removed at exit, as upstream does."""
    code = "import glob, os\nprint(sorted(map(os.path.basename, glob.glob(os.environ['RT']))))\n"
    env = dict(app_env(tmp_path), RT=str(tmp_path / "rt" / "*"))
    args = ["--transport=ipc", "-f", "fixed.json"]
    ours, theirs = run(OURS, args, env, stdin=code), run(THEIRS, args, env, stdin=code)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout
    expected = [f"fixed-ipc-{i}" for i in range(1, 6)] + ["fixed.json"]
    assert ours.stdout == f"{expected}\n"
    assert_clean(tmp_path)


def test_ssh_needs_tcp(tmp_path: Path) -> None:
    """``--ssh`` with an ipc connection file is refused before anything is started."""
    cf = tmp_path / "ipc-kernel.json"
    cf.write_text(json.dumps({"transport": "ipc", "ip": str(tmp_path / "k"), "key": "x",
                              "signature_scheme": "hmac-sha256", "shell_port": 1,
                              "iopub_port": 2, "stdin_port": 3, "hb_port": 4,
                              "control_port": 5}))  # fmt: skip
    env = app_env(tmp_path)
    args = [f"--existing={cf}", "--ssh=nobody@localhost"]
    ours, theirs = run(OURS, args, env, stdin="1\n"), run(THEIRS, args, env, stdin="1\n")
    assert ours.returncode == theirs.returncode == 255
    assert "Can only use ssh tunnels with TCP sockets, not ipc" in ours.stderr
    assert processes_using(tmp_path) == []


def test_console_mixin_in_another_app(
    our_kernel: KernelManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JupyterConsoleApp mixed into a third-party app (as jupyter_console and qtconsole do):
    ``--existing`` finds the connection file in the runtime dir and the client works."""
    for name, value in app_env(tmp_path).items():
        if name.startswith("JUPYTER_"):
            monkeypatch.setenv(name, value)

    class MiniConsole(JupyterApp, JupyterConsoleApp):
        name = "mini-console"
        flags = Dict(consoleapp.flags)
        aliases = Dict(consoleapp.aliases)

        def initialize(self, argv: Any = None) -> None:
            super().initialize(argv)
            JupyterConsoleApp.initialize(self)

    app = MiniConsole()
    app.initialize(["--existing=k1.json"])
    try:
        assert app.kernel_manager is None
        assert app.connection_file == our_kernel.connection_file
        assert app.shell_port == our_kernel.shell_port
        app.kernel_client.wait_for_ready(timeout=60)
        reply = app.kernel_client.execute_interactive("x = 1", timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        app.kernel_client.stop_channels()
    with pytest.warns(UserWarning, match="IPythonConsoleApp is deprecated"):
        IPythonConsoleApp()
