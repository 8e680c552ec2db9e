"""Launch specs for the purpose-built test kernels (``minimal_kernel.py``), for the supervisor
tests: ``KernelFiles(tmp_path).prepare(*flags)`` is a ``prepare(newports)`` callable that writes
a fresh connection file (new ports when asked, or on first use) and returns the
:class:`~jupyter_client.supervisor.kernel.LaunchSpec`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jupyter_client.protocol.ports import default_allocator
from jupyter_client.supervisor.kernel import LaunchSpec

MINIMAL_KERNEL = str(Path(__file__).with_name("minimal_kernel.py"))
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class KernelFiles:
    """Connection files for one kernel under ``directory``; counts the launches."""

    def __init__(self, directory: Path, *, python: str = sys.executable) -> None:
        self.directory = directory
        self.python = python
        self.info: dict[str, Any] | None = None
        self.path = directory / f"kernel-{uuid.uuid4().hex[:8]}.json"
        self.launches = 0
        self.newports_calls: list[bool] = []

    def write(self, newports: bool) -> dict[str, Any]:
        if self.info is None or newports:
            ports = default_allocator().allocate("127.0.0.1", len(PORT_NAMES))
            info: dict[str, Any] = dict(zip(PORT_NAMES, ports, strict=True))
            info.update(ip="127.0.0.1", key=uuid.uuid4().hex, transport="tcp",
                        signature_scheme="hmac-sha256", kernel_name="minimal")  # fmt: skip
            self.info = info
            self.path.write_text(json.dumps(info))
        return self.info

    def prepare(
        self, *flags: str, argv: list[str] | None = None, quiet: bool = True
    ) -> Callable[[bool], Awaitable[LaunchSpec]]:
        """A ``prepare`` for ``minimal_kernel.py FLAGS`` (or for ``argv`` + ``-f FILE``)."""

        async def prepare(newports: bool) -> LaunchSpec:
            self.launches += 1
            self.newports_calls.append(newports)
            info = self.write(newports)
            cmd = list(argv) if argv is not None else [self.python, MINIMAL_KERNEL]
            popen: dict[str, Any] = {}
            if quiet:
                popen.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return LaunchSpec(
                argv=[*cmd, "-f", str(self.path), *flags],
                connection_info=dict(info),
                cwd=str(self.directory),
                popen_kwargs=popen,
            )

        return prepare
