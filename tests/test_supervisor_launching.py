"""The supervisor prepares a launch exactly as the managers do (issue: one kernel lifecycle,
"one launch preparation"): one argv templating (protocol.kernelspec.format_argv; before, the
service left ``python`` and ``{prefix}`` as they were) and one environment
(protocol.kernelspec.kernel_env; before, the service replaced ``{resource_dir}`` in env values
where the managers substitute ``$VAR`` from the launch env, and kept ``PYTHONEXECUTABLE``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.protocol.kernelspec import format_argv
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_client.supervisor.service.launching import KernelLauncher, ResolvedSpec

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


SPEC_ENV = {"GREETING": "hi $USER_NAME", "KEEP": "${NOT_SET} {resource_dir}", "PLAIN": "x"}


def test_the_service_builds_the_environment_as_the_managers_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER_NAME", "ada")
    monkeypatch.setenv("PYTHONEXECUTABLE", "/elsewhere/python")
    monkeypatch.delenv("NOT_SET", raising=False)
    resolved = ResolvedSpec("x", "/res", ARGV, dict(SPEC_ENV), language="python")
    launcher = KernelLauncher("k", resolved, str(tmp_path / "k.json"), str(tmp_path / "log"))
    spec = trio.run(launcher.prepare, False)
    launcher.close_pending()
    provisioner = LocalProvisioner(
        kernel_spec=KernelSpec(argv=ARGV, env=dict(SPEC_ENV), language="python")
    )
    theirs = trio.run(lambda: provisioner.pre_launch(env=dict(os.environ)))["env"]
    assert spec.env is not None
    for env in (spec.env, theirs):
        assert env["GREETING"] == "hi ada" and env["PLAIN"] == "x"
        assert env["KEEP"] == "${NOT_SET} {resource_dir}"  # unknown names stay as written
        assert "PYTHONEXECUTABLE" not in env
    ours = {k: v for k, v in spec.env.items() if k != "JPY_SESSION_NAME"}
    assert ours == {k: v for k, v in theirs.items() if k != "JPY_PARENT_PID"}
    assert spec.env["JPY_SESSION_NAME"] == "k"
