"""Jupyter config files for the command-line apps (jupyter-kernel, jupyter-run, jupyter-kernelspec).

Upstream's apps (on jupyter_core) read ``jupyter_config.{py,json}`` and an app-named file from
every dir of the Jupyter config path, then apply the command line on top. Ours do the same with
the same file names, and also read ``jupyter_<app>_config`` (which upstream never reads).

In-process tests check that values reach the objects (``c.KernelManager.shutdown_wait_time``
reaches the app's manager) and the precedence; subprocess tests run our console scripts next
to upstream's on the same config dirs and compare what the config made them do. A config that
names an unknown kernel makes each app stop at once with a message naming it: a cheap probe
of which setting won, with no kernel started.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from app_helpers import OURS_BIN, THEIRS_BIN, app_env, processes_using, run, runtime_files

from jupyter_client.kernelapp import KernelApp

KERNEL = ("jupyter-kernel", re.compile(r"No such kernel named '?([^'\s]+)"))
RUN = ("jupyter-run", re.compile(r"Could not find kernel '([^']+)'"))


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's Jupyter dirs under ``tmp_path`` (for the in-process tests)."""
    for name, value in app_env(tmp_path).items():
        if name.startswith("JUPYTER_"):
            monkeypatch.setenv(name, value)
    for name in ("JUPYTER_CONFIG_PATH", "JUPYTER_NO_CONFIG", "JUPYTER_PREFER_ENV_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "cfg").mkdir()
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kernel_app(argv: list[str]) -> KernelApp:
    """A KernelApp initialized from ``argv`` (its manager built, no kernel started)."""
    app = KernelApp()
    app.initialize(argv)
    return app


def test_py_config_reaches_the_manager(dirs: Path) -> None:
    write(dirs / "cfg" / "jupyter_config.py", "c.KernelManager.shutdown_wait_time = 7.5\n")
    app = kernel_app([])
    assert app.km.shutdown_wait_time == 7.5
    assert app.kernel_name == "python3"  # untouched default
    assert app.km.connection_file.startswith(str(dirs / "rt" / "kernel-"))


def test_json_config_and_app_named_file(dirs: Path) -> None:
    write(dirs / "cfg" / "jupyter_kernel_config.json",
          json.dumps({"KernelApp": {"kernel_name": "from-json"},
                      "KernelManager": {"shutdown_wait_time": 2.0}}))  # fmt: skip
    app = kernel_app([])
    assert app.kernel_name == app.km.kernel_name == "from-json"
    assert app.km.shutdown_wait_time == 2.0


def test_precedence_files_then_command_line(dirs: Path) -> None:
    """jupyter_config < jupyter_kernel_config < command line; .json beats .py of one name."""
    cfg = dirs / "cfg"
    write(cfg / "jupyter_config.py", "c.KernelManager.shutdown_wait_time = 1.0\n"
          "c.KernelManager.ip = '127.0.0.1'\nc.KernelApp.kernel_name = 'base'\n")  # fmt: skip
    write(cfg / "jupyter_kernel_config.py", "c.KernelManager.shutdown_wait_time = 2.0\n"
          "c.KernelApp.kernel_name = 'app-py'\n")  # fmt: skip
    write(cfg / "jupyter_kernel_config.json", '{"KernelApp": {"kernel_name": "app-json"}}')
    app = kernel_app([])
    assert (app.km.shutdown_wait_time, app.km.ip, app.kernel_name) == (2.0, "127.0.0.1", "app-json")
    app = kernel_app(["--KernelManager.shutdown_wait_time=3.5", "--kernel=cli"])
    assert (app.km.shutdown_wait_time, app.kernel_name) == (3.5, "cli")
    assert app.km.ip == "127.0.0.1"


def test_config_path_dirs_and_their_priority(dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """JUPYTER_CONFIG_PATH dirs are searched too, before the user's config dir."""
    extra, extra2 = dirs / "extra", dirs / "extra2"
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", f"{extra}:{extra2}")
    write(dirs / "cfg" / "jupyter_config.py", "c.KernelManager.shutdown_wait_time = 1.0\n"
          "c.KernelApp.kernel_name = 'user'\n")  # fmt: skip
    write(extra2 / "jupyter_config.py", "c.KernelApp.kernel_name = 'extra2'\n"
          "c.KernelManager.ip = '127.0.0.2'\n")  # fmt: skip
    write(extra / "jupyter_config.py", "c.KernelApp.kernel_name = 'extra'\n")
    app = kernel_app([])
    assert (app.kernel_name, app.km.ip, app.km.shutdown_wait_time) == ("extra", "127.0.0.2", 1.0)


def test_explicit_config_file_replaces_the_app_file(dirs: Path) -> None:
    write(dirs / "cfg" / "jupyter_config.py", "c.KernelManager.ip = '127.0.0.1'\n")
    write(dirs / "cfg" / "jupyter_kernel_config.py", "c.KernelApp.kernel_name = 'not-read'\n")
    mine = write(dirs / "elsewhere" / "mine.py", "c.KernelManager.shutdown_wait_time = 9.0\n")
    app = kernel_app([f"--config={mine}"])
    assert (app.km.shutdown_wait_time, app.kernel_name, app.km.ip) == (9.0, "python3", "127.0.0.1")


def test_missing_explicit_config_file_is_named(
    dirs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = KernelApp()
    app.log.propagate = True  # let caplog see the app's own logger
    app.initialize([f"--config={dirs / 'nope.py'}"])
    assert f"Config file not found: {dirs / 'nope.py'}" in caplog.text


# -- the console scripts, next to upstream's ------------------------------------------------


def probe(app: tuple[str, re.Pattern[str]], env: dict[str, str], *args: str) -> tuple[str, str]:
    """The kernel name that ours and upstream's ``app`` tried to use (both must fail with 1)."""
    script, pattern = app
    names = []
    for bin_dir in (OURS_BIN, THEIRS_BIN):
        done = run(bin_dir / script, list(args), env, stdin="print(1)\n")
        assert done.returncode == 1, done.stderr
        m = pattern.search(done.stderr)
        assert m, done.stderr
        names.append(m.group(1))
    return names[0], names[1]


def test_kernel_app_reads_the_same_files_as_upstream(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    extra = tmp_path / "extra"
    write(tmp_path / "cfg" / "jupyter_config.py", "c.KernelApp.kernel_name = 'from-user-py'\n")
    assert probe(KERNEL, env) == ("from-user-py", "from-user-py")
    write(tmp_path / "cfg" / "jupyter_config.json", '{"KernelApp": {"kernel_name": "user-json"}}')
    assert probe(KERNEL, env) == ("user-json", "user-json")
    write(extra / "jupyter_config.json", '{"KernelApp": {"kernel_name": "from-path"}}')
    env["JUPYTER_CONFIG_PATH"] = str(extra)
    assert probe(KERNEL, env) == ("from-path", "from-path")
    # the command line wins over every file
    assert probe(KERNEL, env, "--KernelApp.kernel_name=cli") == ("cli", "cli")
    assert probe(KERNEL, env, "--kernel=cli2") == ("cli2", "cli2")
    # ours only: jupyter_kernel_config (upstream's KernelApp reads jupyter_config alone)
    write(tmp_path / "cfg" / "jupyter_kernel_config.py", "c.KernelApp.kernel_name = 'app'\n")
    assert probe(KERNEL, env) == ("app", "from-path")
    assert runtime_files(tmp_path) == []


def test_run_app_reads_the_same_files_as_upstream(tmp_path: Path) -> None:
    """Upstream's RunApp is named 'jupyter run', so its own file is ``jupyter run_config``
    (with a space); ours reads that too, then ``jupyter_run_config``."""
    env = app_env(tmp_path)
    cfg = tmp_path / "cfg"
    write(cfg / "jupyter_config.py", "c.JupyterConsoleApp.kernel_name = 'base'\n")
    assert probe(RUN, env) == ("base", "base")
    write(cfg / "jupyter run_config.json", '{"JupyterConsoleApp": {"kernel_name": "spaced"}}')
    assert probe(RUN, env) == ("spaced", "spaced")
    assert probe(RUN, env, "--kernel=cli") == ("cli", "cli")
    write(cfg / "jupyter_run_config.py", "c.RunApp.kernel_name = 'underscored'\n")
    assert probe(RUN, env) == ("underscored", "spaced")
    mine = write(tmp_path / "mine.py", "c.RunApp.kernel_name = 'explicit'\n")
    assert probe(RUN, env, f"--config={mine}") == ("explicit", "explicit")
    assert runtime_files(tmp_path) == []
    assert processes_using(tmp_path) == []


def test_kernelspec_app_reads_jupyter_config(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    write(tmp_path / "cfg" / "jupyter_config.json", '{"ListKernelSpecs": {"json_output": true}}')
    ours = run(OURS_BIN / "jupyter-kernelspec", ["list"], env)
    theirs = run(THEIRS_BIN / "jupyter-kernelspec", ["list"], env)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    assert "python3" in json.loads(ours.stdout)["kernelspecs"]
    (tmp_path / "cfg" / "jupyter_config.json").unlink()
    write(tmp_path / "cfg" / "jupyter_kernelspec_config.py", "c.ListKernelSpecs.json_output = True")
    ours = run(OURS_BIN / "jupyter-kernelspec", ["list"], env)
    assert "python3" in json.loads(ours.stdout)["kernelspecs"]  # ours only


def test_broken_config_file_is_named_and_skipped(tmp_path: Path) -> None:
    env = app_env(tmp_path)
    broken = write(tmp_path / "cfg" / "jupyter_config.py", "c.KernelApp.kernel_name = (\n")
    for bin_dir in (OURS_BIN, THEIRS_BIN):
        done = run(bin_dir / "jupyter-kernel", ["--kernel=no-such"], env)
        assert done.returncode == 1
        assert str(broken) in done.stderr and "SyntaxError" in done.stderr
        assert "no-such" in done.stderr  # the app went on after the broken file


def test_generate_config_writes_the_app_file_without_a_kernel(tmp_path: Path) -> None:
    """``jupyter-run --generate-config`` writes ``jupyter run_config.py`` (upstream's name;
    upstream 8.9.1 crashes on this flag) and starts no kernel; the file is valid config."""
    env = app_env(tmp_path)
    done = run(OURS_BIN / "jupyter-run", ["--generate-config"], env)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "cfg" / "jupyter run_config.py"
    assert f"Writing default config to: {str(path)!r}" in done.stdout
    text = path.read_text()
    assert "# c.RunApp.kernel_timeout = 60" in text
    assert "# c.RunApp.output_timeout = 10" in text
    assert runtime_files(tmp_path) == []
    again = run(OURS_BIN / "jupyter-run", ["--generate-config"], env, stdin="n\n")
    assert again.returncode == 0 and "Overwrite" in again.stdout
    assert path.read_text() == text
    compile(text, str(path), "exec")  # comments and `c = get_config()`: valid Python
