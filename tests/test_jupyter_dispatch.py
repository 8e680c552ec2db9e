"""`jupyter supervisor` reaches our console script through jupyter_core's command dispatcher
(jupyter_core is installed in the kernel venv; ours does not depend on it), as users type it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import KERNEL_PYTHON


def test_jupyter_dispatches_to_our_supervisor(tmp_path: Path) -> None:
    jupyter = KERNEL_PYTHON.parent / "jupyter"
    if not jupyter.exists():
        pytest.fail(f"{jupyter} is missing: run `make setup`")
    our_bin = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{our_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        [str(jupyter), "supervisor", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "usage: jupyter-supervisor" in out.stdout
