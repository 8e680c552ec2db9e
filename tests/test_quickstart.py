"""docs/quickstart.md is true: every python block runs, verbatim, in a fresh interpreter outside
the checkout, and prints the lines of the text block after it (``...`` matches anything)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "quickstart.md"
BLOCK = re.compile(r"```python\n(.*?)```\s*```text\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = BLOCK.findall(DOC.read_text())
    assert len(found) >= 5, "docs/quickstart.md lost its examples"
    return found


@pytest.mark.timeout(300)
@pytest.mark.parametrize("index", range(len(examples())))
def test_quickstart_example_runs_verbatim(index: int, tmp_path: Path) -> None:
    code, expected = examples()[index]
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.splitlines()
    for line in expected.strip().splitlines():
        pattern = ".*".join(re.escape(part) for part in line.split("..."))
        assert any(re.fullmatch(pattern, got.strip()) for got in printed), (line, proc.stdout)
