"""The package as a user gets it: a regular (non-editable) install of our wheel.

The editable install the rest of the suite runs against maps our folders onto the package
names by itself, so a sub-package missing from pyproject's hand-written ``packages`` list
(``jupyter_client.ssh`` once was) goes unnoticed until a user imports it. Two guards:

* a fast check that the list names every folder of the tree that has an ``__init__.py``;
* an end-to-end check: build the wheel, install it with its dependencies into a throwaway
  venv, and from outside the checkout import every module, run the console scripts and run
  code in a kernel through ``KernelManager`` + ``BlockingKernelClient``.

Dependency wheels are cached under ``build/wheel-cache`` (git-ignored): the first run on a
fresh machine downloads them from PyPI, later runs install offline from the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "wheel-cache"

#: The package name each top folder is installed as (pyproject's package-dir mapping).
LAYERS = {
    "jupyter_client": "jupyter_client",
    "protocol": "jupyter_client.protocol",
    "actors": "jupyter_client.actors",
    "supervisor": "jupyter_client.supervisor",
}


def _tree_packages() -> set[str]:
    """Every package the tree holds: each folder with an ``__init__.py`` under a layer."""
    found = set()
    for folder, name in LAYERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join((name, *rel.parts)))
    return found


def test_package_list_names_every_package_of_the_tree() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {v: k for k, v in setuptools["package-dir"].items()} == LAYERS
    assert set(setuptools["packages"]) == _tree_packages()


def _run(*argv: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    """Run ``argv``; its stdout, or a failure carrying both streams."""
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _source_copy(dest: Path) -> Path:
    """What the sdist would hold, copied to ``dest``: setuptools builds in the source tree and
    reuses a ``build/lib`` left there, which kept a since-dropped package in the wheel."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in LAYERS:
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    return dest


def _install(python: Path, wheel: Path, cwd: Path, env: dict[str, str]) -> None:
    """Install ``wheel`` and its dependencies: offline from the cache if it has them all,
    else download what is missing from PyPI into the cache first."""
    pip = (python, "-m", "pip", "install", "-q", "--disable-pip-version-check")
    offline = (*pip, "--no-index", "--find-links", CACHE, wheel)
    proc = subprocess.run(offline, capture_output=True, cwd=cwd, env=env, timeout=300)
    if proc.returncode == 0:
        return
    _run(python, "-m", "pip", "download", "-q", "-d", CACHE, wheel, cwd=cwd, env=env)
    for ours in CACHE.glob("jupyter_client-*.whl"):  # pip copies the wheel itself there too
        ours.unlink()
    _run(*offline, cwd=cwd, env=env)


#: Run inside the wheel venv: import every module of the installed package (from its
#: RECORD, so nothing the wheel lacks can be found elsewhere), then run code in a kernel.
CHECK = r"""
import importlib, json, sys
from importlib.metadata import distribution

dist = distribution("jupyter-client")
names = sorted(
    str(f)[:-3].replace("/", ".").removesuffix(".__init__")
    for f in dist.files if str(f).endswith(".py") and str(f).startswith("jupyter_client/")
)
for name in names:
    mod = importlib.import_module(name)
    assert mod.__file__.startswith(sys.prefix), (name, mod.__file__)
py_typed = any(str(f) == "jupyter_client/py.typed" for f in dist.files)

from jupyter_client.ssh import tunnel
from jupyter_client import KernelManager

km = KernelManager(kernel_name="minimal")
km.start_kernel()
try:
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=30)
    reply = kc.execute_interactive("x = 6 * 7", timeout=30)
    kc.stop_channels()
finally:
    km.shutdown_kernel(now=True)
print(json.dumps({"modules": names, "py_typed": py_typed, "status": reply["content"]["status"]}))
"""


@pytest.mark.timeout(600)
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    outside = tmp_path / "cwd"
    outside.mkdir()
    CACHE.mkdir(parents=True, exist_ok=True)
    (tmp_path / "src").mkdir()
    dist = tmp_path / "dist"
    src = _source_copy(tmp_path / "src")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, src,
         cwd=outside, env=env)  # fmt: skip
    (wheel,) = dist.glob("jupyter_client-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "jupyter_client/py.typed" in zf.namelist()

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=outside, env=env)
    python = venv / "bin" / "python"
    _install(python, wheel, outside, env)

    # The test kernel runs on the wheel's protocol layer too: its python is the wheel venv's.
    spec_dir = tmp_path / "data" / "kernels" / "minimal"
    spec_dir.mkdir(parents=True)
    kernel = ROOT / "tests" / "kernels" / "minimal_kernel.py"
    argv = [str(python), str(kernel), "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "minimal", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env["JUPYTER_PATH"] = str(tmp_path / "data")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")

    out = json.loads(_run(python, "-c", CHECK, cwd=outside, env=env).strip().splitlines()[-1])
    assert out["status"] == "ok"
    assert out["py_typed"]
    assert _tree_packages() <= set(out["modules"])

    assert "jupyter_client.ssh.tunnel" in out["modules"]
    from importlib.metadata import version  # the distribution's version, as installed

    shown = _run(venv / "bin" / "jupyter-supervisor", "--version", cwd=outside, env=env)
    assert shown.strip() == f"jupyter-supervisor {version('jupyter-client')}"
    assert "minimal" in _run(venv / "bin" / "jupyter-kernelspec", "list", cwd=outside, env=env)
