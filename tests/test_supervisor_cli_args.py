"""``jupyter-supervisor``'s command line as a user meets it: --version, a --help that shows
every option with its default, examples and exit codes; global options after the subcommand;
bad values refused as usage errors; the whole argv in the lifecycle log."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from kernels.support import MINIMAL_KERNEL
from supervisor_helpers import SCRIPT, Harness, running_harness, wait_for, write_spec

from jupyter_client.supervisor.service.cli import COMMANDS
from jupyter_client.supervisor.service.cli_args import build_parser

pytestmark = pytest.mark.timeout(120)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=env)


def test_version() -> None:
    out = run("--version")
    assert (
        out.returncode == 0
        and out.stdout.strip() == f"jupyter-supervisor {version('jupyter-client')}"
    )


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_shows_every_option_with_its_default_examples_and_exit_codes() -> None:
    parser = build_parser(COMMANDS)
    helps = {"": run("--help").stdout}
    for name in _subparsers(parser):
        helps[name] = run(name, "--help").stdout
    assert set(helps) == {"", *COMMANDS}
    for name, sub in [("", parser), *_subparsers(parser).items()]:
        text = helps[name]
        assert "examples:" in text and "exit codes:" in text and "3  no supervisor" in text
        assert "docs/" not in text and ".py" not in text and "/work" not in text, name
        for action in sub._actions:
            if not action.option_strings or action.dest in ("help", "version"):
                continue
            flags = ", ".join(action.option_strings)
            options = text[text.index("\noptions:") :]
            start = options.index(f"\n  {action.option_strings[0]}")  # its entry
            line = options[start + 1 :].split("\n  -")[0]
            assert action.help and "default:" in line, (name, flags, line)


@pytest.mark.parametrize("before", [True, False])
def test_global_options_before_or_after_the_subcommand(before: bool, tmp_path: Path) -> None:
    opts = ["--runtime-dir", str(tmp_path / "rt"), "--timeout", "3"]
    argv = [*opts, "status"] if before else ["status", *opts]
    out = run(*argv)
    assert out.returncode == 3, out.stderr
    assert f"no control socket in {tmp_path / 'rt'}" in out.stderr
    args = build_parser(COMMANDS).parse_args(argv)
    assert (args.runtime_dir, args.timeout) == (str(tmp_path / "rt"), 3.0)
    plain = build_parser(COMMANDS).parse_args(["status"])
    assert (plain.runtime_dir, plain.timeout, plain.key_file) == (None, 120.0, None)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["serve", "--log-level", "bogus"], "--log-level"),
        (["serve", "--shutdown-wait", "-1"], "--shutdown-wait"),
        (["serve", "--heartbeat", "0"], "--heartbeat"),
        (["serve", "--heartbeat", "nan"], "--heartbeat"),
        (["serve", "--startup-timeout", "-5"], "--startup-timeout"),
        (["serve", "--hung-after", "0"], "--hung-after"),
        (["start", "minimal", "--stable-start-time", "-1"], "--stable-start-time"),
        (["status", "--interval", "-2"], "--interval"),
        (["--timeout", "-3", "status"], "--timeout"),
        (["logs", "x", "--lines", "-1"], "--lines"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(argv: list[str], option: str) -> None:
    out = run(*argv)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "error: argument " in out.stderr and option in out.stderr.splitlines()[-1]
    assert "Traceback" not in out.stderr


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with running_harness(tmp_path) as harness:
        yield harness


def test_the_lifecycle_log_keeps_the_whole_argv(h: Harness) -> None:
    argv = [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}", "--crash-after", "600"]
    write_spec(h.jpath, "long", argv)
    h.serve()
    kid = h.start("long", "--id", "long")
    events = wait_for(lambda: [e for e in json.loads(h.cli("logs", kid, "--json").stdout)
                               if e["kind"] == "started"], what="started")  # fmt: skip
    connection_file = h.cli("connect-info", kid).stdout.strip()
    expected = shlex.join([a.replace("{connection_file}", connection_file) for a in argv])
    assert events[0]["detail"] == expected
    assert expected in h.cli("logs", kid).stdout
