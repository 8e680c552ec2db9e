"""nbclient on our AsyncKernelManager produces the same notebook as nbclient on upstream's.

nbclient (Papermill, nbconvert --execute, Jupyter Book) is the biggest programmatic user of
``jupyter_client``: it drives the async manager and client from asyncio, waits for replies with
timeouts, and relies on error and timeout semantics. One notebook exercises the paths that
matter — a stream, a rich display, an allowed error (``raises-exception`` tag) and a per-cell
timeout (``timeout_func`` → ``CellTimeoutError``, which nbclient raises out of ``execute`` when
``interrupt_on_timeout`` is off, as its docs describe; the notebook keeps the outputs so far)
— and is executed twice: in-process on
our package, and by upstream nbclient + upstream jupyter_client in ``.venv-kernel`` as a
subprocess started from a directory outside the repository (so it cannot import ours). The
outputs are compared cell by cell on the fields a notebook reader sees.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError
from nbformat.v4 import new_code_cell, new_notebook

from jupyter_client.manager import AsyncKernelManager

pytestmark = pytest.mark.timeout(240)

TIMEOUT_CELL = 2  # seconds granted to the cell tagged with metadata "short_timeout"


def _notebook() -> Any:
    return new_notebook(
        cells=[
            new_code_cell("print('hello from the kernel')\n6 * 7"),
            new_code_cell(
                "from IPython.display import display, Markdown\n"
                "display(Markdown('**bold**'))\n"
                "display({'text/plain': 'plain only'}, raw=True)"
            ),
            new_code_cell("raise ValueError('boom')", metadata={"tags": ["raises-exception"]}),
            new_code_cell("print('still alive')"),
            new_code_cell(
                "import time\nprint('before the sleep', flush=True)\ntime.sleep(60)",
                metadata={"short_timeout": True},
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )


def _timeout_func(cell: Any) -> int | None:
    return TIMEOUT_CELL if cell.metadata.get("short_timeout") else 60


# The upstream side: same options, upstream nbclient and jupyter_client in .venv-kernel.
_UPSTREAM = textwrap.dedent(
    """
    import sys
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    nb = nbformat.read(sys.argv[1], as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout_func=lambda c: {t} if c.metadata.get("short_timeout")
        else 60, resources={{"metadata": {{"path": sys.argv[3]}}}},
    )
    try:
        client.execute()
        print("no timeout", file=sys.stderr)
    except CellTimeoutError:
        pass
    nbformat.write(nb, sys.argv[2])
    """
).format(t=TIMEOUT_CELL)


def _summary(nb: Any) -> list[list[dict[str, Any]]]:
    """Per cell, per output: the fields a reader sees (not tracebacks, ids or timings).

    Consecutive stream outputs of one name are joined, as front ends render them: under load
    ipykernel may send one ``print`` as two stream messages (its flush timer fires between
    the text and the newline), on either side."""
    cells = []
    for cell in nb.cells:
        outs: list[dict[str, Any]] = []
        for out in cell.get("outputs", []):
            last = outs[-1] if outs else None
            if (
                out.get("output_type") == "stream"
                and last is not None
                and last["output_type"] == "stream"
                and last["name"] == out.get("name")
            ):
                last["text"] += out.get("text", "")
                continue
            outs.append(
                {
                    "output_type": out.get("output_type"),
                    "name": out.get("name"),
                    "text": out.get("text"),
                    "text/plain": out.get("data", {}).get("text/plain"),
                    "ename": out.get("ename"),
                    "evalue": out.get("evalue"),
                }
            )
        cells.append(outs)
    return cells


async def _run_ours(nb: Any, cwd: Path) -> None:
    # nbclient builds the manager itself (and then owns and shuts down the kernel); its
    # default kernel_manager_class is jupyter_client.manager.AsyncKernelManager: ours.
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout_func=_timeout_func,
        resources={"metadata": {"path": str(cwd)}},
    )
    managers: list[Any] = []
    client.on_notebook_start = lambda notebook: managers.append(client.km)
    with pytest.raises(CellTimeoutError):
        await client.async_execute()
    assert len(managers) == 1 and type(managers[0]) is AsyncKernelManager
    assert not managers[0].has_kernel  # nbclient shut the kernel down through our manager


def test_notebook_same_outputs_as_upstream(
    tmp_path: Path, kernel_python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    source = tmp_path / "in.ipynb"
    nbformat.write(_notebook(), source)

    ours = nbformat.read(source, as_version=4)
    asyncio.run(_run_ours(ours, tmp_path))

    script = tmp_path / "run_upstream.py"
    script.write_text(_UPSTREAM)
    upstream_out = tmp_path / "upstream.ipynb"
    proc = subprocess.run(
        [kernel_python, str(script), str(source), str(upstream_out), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    upstream = nbformat.read(upstream_out, as_version=4)

    mine, theirs = _summary(ours), _summary(upstream)
    shown = json.dumps({"ours": mine, "upstream": theirs}, indent=1)
    assert mine == theirs, shown
    # and the notebook really exercised each path
    assert mine[0][0]["text"] == "hello from the kernel\n" and mine[0][1]["text/plain"] == "42"
    assert [o["output_type"] for o in mine[1]] == ["display_data", "display_data"]
    assert mine[2][0]["ename"] == "ValueError" and mine[2][0]["evalue"] == "boom"
    assert mine[3][0]["text"] == "still alive\n"
    assert mine[4][0]["text"] == "before the sleep\n"
    # shutdown_kernel interrupts first, as upstream's does: the cell that timed out, still
    # sleeping, collects the KeyboardInterrupt while nbclient shuts the kernel down
    assert mine[4][-1]["ename"] == "KeyboardInterrupt"
