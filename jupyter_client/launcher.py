"""``launch_kernel``: start a kernel process (upstream's function, same semantics).

Argument preparation and the Linux parent-death signal live in
:mod:`jupyter_client.actors.launch`, shared with the trio kernel actor.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import Any

from jupyter_client._lazy_names import upstream_names
from jupyter_client.actors.launch import log, prepare_launch, should_close_stdin, spawn

__all__ = ["launch_kernel"]


def launch_kernel(
    cmd: Sequence[str],
    stdin: int | Any | None = None,
    stdout: int | Any | None = None,
    stderr: int | Any | None = None,
    env: dict[str, str] | None = None,
    independent: bool = False,
    cwd: str | None = None,
    **kw: Any,
) -> subprocess.Popen[Any]:
    """Launch a kernel process and return its ``Popen``.

    ``independent=False`` ties the kernel to this process (``JPY_PARENT_PID`` and, on Linux, a
    parent-death SIGKILL); ``independent=True`` lets it outlive us. Extra ``kw`` go to
    ``Popen``. A failing ``Popen`` is logged (command, PATH, arguments without env) and
    re-raised unchanged.
    """
    kwargs = prepare_launch(
        cmd,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=env,
        independent=independent,
        cwd=cwd,
        **kw,
    )
    try:
        proc: subprocess.Popen[Any] = spawn(kwargs)
    except Exception:
        shown = {k: v for k, v in kwargs.items() if k not in ("env", "args")}
        path = kwargs["env"].get("PATH", os.defpath)
        log.error(
            "Failed to run command:\n%s\n    PATH=%r\n    with kwargs:\n%r\n",
            kwargs["args"],
            path,
            shown,
        )
        raise
    if should_close_stdin(stdin) and proc.stdin is not None:
        proc.stdin.close()
    return proc


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
