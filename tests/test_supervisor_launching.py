"""The supervisor formats a kernelspec's argv exactly as the managers do (issue: one kernel
lifecycle, "one launch preparation"): one function, protocol.kernelspec.format_argv. Before,
the service left ``python`` and ``{prefix}`` as they were."""

from __future__ import annotations

import sys
from pathlib import Path

from jupyter_client.protocol.kernelspec import format_argv
from jupyter_client.supervisor.launching import KernelLauncher, ResolvedSpec

ARGV = ["python", "-m", "k", "-f", "{connection_file}", "{prefix}", "{resource_dir}", "{nope}"]


def test_the_service_formats_argv_as_the_managers_do(tmp_path: Path) -> None:
    conn = str(tmp_path / "kernel-k.json")
    launcher = KernelLauncher("k", ResolvedSpec("x", "/res", ARGV), conn, str(tmp_path / "log"))
    assert launcher.argv() == [sys.executable, "-m", "k", "-f", conn, sys.prefix, "/res",
                               "{nope}"]  # fmt: skip


def test_format_argv_only_replaces_a_bare_python_and_known_names() -> None:
    ns = {"connection_file": "/c.json"}
    assert format_argv(["/usr/bin/python", "{connection_file}x"], ns) == [
        "/usr/bin/python",
        "/c.jsonx",
    ]
    assert format_argv([f"python{sys.version_info[0]}"], {})[0] == sys.executable
    assert format_argv(["python2", "{{x}}"], {"x": 1}) == ["python2", "{1}"]
