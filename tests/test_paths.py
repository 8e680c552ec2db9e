"""protocol.paths against jupyter_core.paths (run side by side in the kernel venv).

Both implementations are evaluated in one `.venv-kernel` interpreter (our module loaded by
file path, it only needs the stdlib and platformdirs), so `sys.prefix`, venv detection and
platformdirs agree; every combination runs in a fresh process because upstream fixes its
system paths at import time.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_client.protocol import paths

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("ours", sys.argv[1])
ours = importlib.util.module_from_spec(spec); spec.loader.exec_module(ours)
import jupyter_core.paths as theirs
def snap(m):
    return {
        "path": m.jupyter_path(), "kernels": m.jupyter_path("kernels"),
        "data": m.jupyter_data_dir(), "config": m.jupyter_config_dir(),
        "runtime": m.jupyter_runtime_dir(), "config_path": m.jupyter_config_path(),
        "prefer": m.prefer_environment_over_user(),
    }
print(json.dumps({"ours": snap(ours), "theirs": snap(theirs)}))
"""

_VARS = (
    "JUPYTER_PATH JUPYTER_DATA_DIR JUPYTER_CONFIG_DIR JUPYTER_RUNTIME_DIR JUPYTER_CONFIG_PATH "
    "JUPYTER_PREFER_ENV_PATH JUPYTER_PLATFORM_DIRS JUPYTER_NO_CONFIG XDG_DATA_HOME XDG_DATA_DIRS "
    "XDG_CONFIG_HOME XDG_CONFIG_DIRS CONDA_PREFIX CONDA_DEFAULT_ENV PYTHONNOUSERSITE"
).split()


def _compare(kernel_python: str, home: Path, extra: dict[str, str]) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k not in _VARS}
    env["HOME"] = str(home)
    env.update(extra)
    out = subprocess.run(
        [kernel_python, "-c", _SCRIPT, str(ROOT / "protocol" / "paths.py")],
        env=env, cwd="/", capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    result: dict[str, dict] = json.loads(out.stdout)
    return result


def _kprefix(kernel_python: str) -> str:
    return str(Path(kernel_python).parent.parent)


CASES = {
    "defaults": {},
    "explicit": {
        "JUPYTER_PATH": "/opt/a:/opt/b/",
        "JUPYTER_DATA_DIR": "/srv/data",
        "JUPYTER_CONFIG_DIR": "/srv/cfg",
        "JUPYTER_RUNTIME_DIR": "/srv/run",
        "JUPYTER_CONFIG_PATH": "/etc/x:/etc/y",
    },
    "prefer_env_false": {"JUPYTER_PREFER_ENV_PATH": "0"},
    "prefer_env_empty_is_true": {"JUPYTER_PREFER_ENV_PATH": ""},
    "prefer_env_off_word": {"JUPYTER_PREFER_ENV_PATH": "Off"},
    "xdg": {"XDG_DATA_HOME": "/xdg/data", "XDG_DATA_DIRS": "/xd1:/xd2"},
    "platformdirs": {
        "JUPYTER_PLATFORM_DIRS": "1",
        "XDG_DATA_HOME": "/xdg/data",
        "XDG_CONFIG_HOME": "/xdg/cfg",
        "XDG_DATA_DIRS": "/xd1:/xd2",
        "XDG_CONFIG_DIRS": "/xc1",
    },
    "platformdirs_off": {"JUPYTER_PLATFORM_DIRS": "no"},
    "no_user_site": {"PYTHONNOUSERSITE": "1", "JUPYTER_PREFER_ENV_PATH": "no"},
    "empty_runtime_var": {"JUPYTER_RUNTIME_DIR": "", "JUPYTER_DATA_DIR": ""},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_jupyter_core(kernel_python: str, tmp_path: Path, case: str) -> None:
    got = _compare(kernel_python, tmp_path, CASES[case])
    assert got["ours"] == got["theirs"]


def test_conda_env_rules(kernel_python: str, tmp_path: Path) -> None:
    prefix = _kprefix(kernel_python)
    for default_env in ("base", "myenv"):
        got = _compare(
            kernel_python, tmp_path, {"CONDA_PREFIX": prefix, "CONDA_DEFAULT_ENV": default_env}
        )
        assert got["ours"] == got["theirs"]


def test_no_config_uses_private_empty_dir(kernel_python: str, tmp_path: Path) -> None:
    got = _compare(kernel_python, tmp_path, {"JUPYTER_NO_CONFIG": "1"})
    ours, theirs = got["ours"], got["theirs"]
    for snap in (ours, theirs):
        assert Path(snap["config"]).name.startswith("jupyter-clean-cfg-")
        assert snap["config_path"] == [snap["config"]]
        os.rmdir(snap["config"])
    assert {k: v for k, v in ours.items() if "config" not in k} == {
        k: v for k, v in theirs.items() if "config" not in k
    }


def test_envset_truthiness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_X", raising=False)
    assert paths.envset("JUPYTER_X") is False
    assert paths.envset("JUPYTER_X", True) is True
    for value, expected in [("", True), ("1", True), ("yes", True), ("No", False),
                            ("0.0", False), ("off", False), ("n", False)]:  # fmt: skip
        monkeypatch.setenv("JUPYTER_X", value)
        assert paths.envset("JUPYTER_X") is expected


def test_runtime_dir_follows_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JUPYTER_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    assert paths.jupyter_runtime_dir() == str(tmp_path / "runtime")
    assert str(tmp_path / "kernels") in paths.jupyter_path("kernels")
