"""The command line of ``jupyter-supervisor``: options, their checks, and ``--help``.

Split from :mod:`~jupyter_client.supervisor.service.cli` (which runs the commands) so that the whole
surface a user types is in one place. What it promises (docs/cli.md):

* every option has a help line that shows its default; ``--help`` ends with examples and the
  exit codes, and names no file of the source tree;
* the global options (``--runtime-dir``, ``--key-file``, ``--timeout``) are accepted before
  or after the subcommand, as users of ``systemctl`` and ``docker`` expect;
* values are checked when parsed: a negative time, a zero heartbeat or an unknown log level
  is a usage error (exit 2) naming the option, not a traceback or a supervisor that never
  beats.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["LOG_LEVELS", "build_parser"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

EPILOG = """\
examples:
  jupyter-supervisor serve --daemon            run the supervisor in the background
  jupyter-supervisor start python3 --id work   start a kernel (prints its id)
  jupyter-supervisor status --watch            a live table of every kernel
  jupyter-supervisor logs work                 the kernel's lifecycle events
  jupyter-supervisor logs work --output -f     follow what the kernel prints
  jupyter-supervisor restart work              restart it (interrupt, request, escalate)
  jupyter-supervisor stop --all                stop every kernel
  jupyter-supervisor shutdown                  stop every kernel and the supervisor

exit codes:
  0  success
  1  the request failed or was refused (unknown id or kernelspec, a second serve,
     a corrupt state file, a kernel that failed to start)
  2  usage error (unknown option, bad value)
  3  no supervisor is running
  4  authentication failed (wrong or unreadable key file)
"""


def _number(kind: type, *, minimum: float, strict: bool) -> Callable[[str], Any]:
    """An argparse type: ``kind(text)`` that is >= ``minimum`` (> with ``strict``)."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value != value or (value <= minimum if strict else value < minimum):  # NaN too
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its errors
    return parse


seconds = _number(float, minimum=0.0, strict=False)
positive_seconds = _number(float, minimum=0.0, strict=True)
positive_int = _number(int, minimum=1, strict=False)
count = _number(int, minimum=0, strict=False)


def restart_policy(text: str) -> tuple[str, int]:
    """``never`` → (never, 0); ``on-failure`` / ``always`` → 5 restarts; ``...:N`` → N."""
    if text == "never":
        return "never", 0
    kind, _, limit = text.partition(":")
    if kind in ("always", "on-failure") and (not limit or limit.isdigit()):
        return kind, int(limit) if limit else 5
    raise argparse.ArgumentTypeError(f"bad restart policy {text!r} (always, always:N, "
                                     "on-failure, on-failure:N, never)")  # fmt: skip


def env_pair(text: str) -> tuple[str, str]:
    """``K=V`` for ``--env``."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"--env wants NAME=VALUE, not {text!r}")
    return name, value


def log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"unknown log level {text!r} ({', '.join(LOG_LEVELS)})")
    return text.lower()


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every help line; the epilog's layout kept."""


def _version() -> str:
    try:
        return version("jupyter-client")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def _globals(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """The options every subcommand shares. On the subparsers their default is SUPPRESS, so
    that one given before the subcommand is not reset by the subparser's absence of it."""

    suppressed = default is argparse.SUPPRESS

    def add(flag: str, value: Any, help: str, **kw: Any) -> None:
        # The formatter shows no default for SUPPRESS, so the subcommands' copies say it.
        text = f"{help} (default: {value})" if suppressed else help
        parser.add_argument(flag, default=argparse.SUPPRESS if suppressed else value,
                            help=text, **kw)  # fmt: skip

    add("--runtime-dir", None, "the supervisor's runtime dir (None: $JUPYTER_RUNTIME_DIR, "
        "else the Jupyter runtime dir)", metavar="DIR")  # fmt: skip
    add("--key-file", None, "the control key (None: the one in the runtime dir)",
        metavar="FILE")  # fmt: skip
    add("--timeout", 120.0, "how long a request may take", type=positive_seconds,
        metavar="SECONDS")  # fmt: skip


def build_parser(
    commands: dict[str, Callable[[argparse.Namespace], int]],
) -> argparse.ArgumentParser:
    """The parser; ``commands`` maps each subcommand to the function that runs it."""
    p = argparse.ArgumentParser(
        prog="jupyter-supervisor", formatter_class=_Formatter, epilog=EPILOG,
        description="Run Jupyter kernels under a supervisor that restarts them by policy, "
        "keeps them across its own restarts, and shows what each is doing.",
    )  # fmt: skip
    p.add_argument("--version", action="version", version=f"jupyter-supervisor {_version()}")
    _globals(p, default=None)
    shared = argparse.ArgumentParser(add_help=False)
    _globals(shared, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                           parents=[shared], formatter_class=_Formatter, epilog=EPILOG)  # fmt: skip
        s.set_defaults(fn=commands[name])
        return s

    s = command("serve", "run the supervisor (in the foreground unless --daemon)")
    s.add_argument("--daemon", action="store_true", help="detach; return once it is serving")
    s.add_argument("--heartbeat", type=positive_seconds, default=5.0, metavar="SECONDS",
                   help="heartbeat period")  # fmt: skip
    s.add_argument("--hung-after", type=positive_int, default=3, metavar="N",
                   help="missed heartbeats after which a kernel is hung (then killed and "
                   "restarted)")  # fmt: skip
    s.add_argument("--startup-timeout", type=seconds, default=60.0, metavar="SECONDS",
                   help="how long a new kernel has to answer its first heartbeat (0: no "
                   "deadline)")  # fmt: skip
    s.add_argument("--shutdown-wait", type=seconds, default=5.0, metavar="SECONDS",
                   help="a stop's budget per kernel: request, then SIGTERM at half, SIGKILL "
                   "at the end")  # fmt: skip
    s.add_argument("--log-level", type=log_level, default="info", metavar="LEVEL",
                   help=f"the supervisor's log level ({', '.join(LOG_LEVELS)})")  # fmt: skip
    s.add_argument("--transport", choices=("tcp", "ipc"), default="tcp",
                   help="how kernels listen: tcp on 127.0.0.1, or ipc (unix sockets in the "
                   "0700 runtime dir: no port any local user can reach)")  # fmt: skip
    s.add_argument("--encryption", choices=("disabled", "auto", "required"),
                   default="disabled",
                   help="CurveZMQ keys per kernel: auto when its kernelspec declares curve "
                   "in metadata.supported_encryption; required refuses kernelspecs that do "
                   "not")  # fmt: skip

    s = command("start", "start a kernel, wait until it answers, and print its id")
    s.add_argument("name", help="kernelspec name (see jupyter-kernelspec list)")
    s.add_argument("--id", default=None, help="kernel id (None: a new uuid)")
    s.add_argument("--restart-policy", type=restart_policy, default="on-failure", metavar="POLICY",
                   help="on-failure[:N] (restart deaths, not exit code 0; N restarts in a row, "
                   "default 5) | always[:N] (any death) | never")  # fmt: skip
    s.add_argument("--stable-start-time", type=seconds, default=10.0, metavar="SECONDS",
                   help="time alive after which a (re)start counts as stable and the restart "
                   "count resets")  # fmt: skip
    s.add_argument("--backoff", type=seconds, default=0.5, metavar="SECONDS",
                   help="delay before the first restart of a streak; doubles each time (0: "
                   "restart at once)")  # fmt: skip
    s.add_argument("--backoff-max", type=seconds, default=30.0, metavar="SECONDS",
                   help="the longest delay before a restart")  # fmt: skip
    s.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="return once the process exists, not once it answers kernel_info",
    )
    s.add_argument("--wait-timeout", type=positive_seconds, default=60.0, metavar="SECONDS",
                   help="how long to wait for the kernel's kernel_info reply")  # fmt: skip
    s.add_argument("--wedged-after", type=seconds, default=60.0, metavar="SECONDS",
                   help="a kernel that beats but does not answer kernel_info on control for "
                   "this long (while not busy) is wedged (0: never checked)")  # fmt: skip
    s.add_argument(
        "--on-wedged",
        choices=("report", "interrupt", "restart"),
        default="report",
        help="what follows when the kernel is wedged",
    )
    s.add_argument(
        "--cwd",
        default=None,
        metavar="DIR",
        help="the kernel's working directory (None: where this command runs)",
    )
    s.add_argument("--env", type=env_pair, action="append", default=[], metavar="NAME=VALUE",
                   help="set a variable in the kernel's environment (repeatable; over the "
                   "supervisor's and the kernelspec's)")  # fmt: skip

    s = command("stop", "stop a kernel (or every kernel with --all)")
    s.add_argument("id", nargs="?", help="kernel id (a unique prefix is enough)")
    s.add_argument("--all", action="store_true", help="stop every kernel")
    s.add_argument("--now", action="store_true", help="SIGKILL at once, no shutdown_request")

    s = command("restart", "restart a kernel")
    s.add_argument("id", help="kernel id (a unique prefix is enough)")
    s.add_argument("--now", action="store_true", help="SIGKILL the old process at once")

    s = command("interrupt", "interrupt a kernel (SIGINT or interrupt_request)")
    s.add_argument("id", help="kernel id (a unique prefix is enough)")

    s = command("list", "list kernels: id, kernelspec, state, pid")
    s.add_argument("--json", action="store_true", help="one JSON array")

    s = command("connect-info", "print a kernel's connection file path")
    s.add_argument("id", help="kernel id (a unique prefix is enough)")
    s.add_argument("--json", action="store_true", help="print the connection info instead")

    s = command("logs", "print a kernel's recent lifecycle events (--output: its output)")
    s.add_argument("id", help="kernel id (a unique prefix is enough)")
    s.add_argument("-n", "--lines", type=count, default=50, metavar="N",
                   help="how many events (or lines of output)")  # fmt: skip
    s.add_argument(
        "--output",
        action="store_true",
        help="the kernel's own stdout and stderr instead of lifecycle events",
    )
    s.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="with --output: keep printing what the kernel writes, like tail -f",
    )
    s.add_argument("--json", action="store_true", help="one JSON array")

    s = command("status", "one row per kernel: state, pid, restarts, CPU, memory, activity")
    s.add_argument("--json", action="store_true", help="one JSON array")
    s.add_argument("--watch", action="store_true", help="refresh in place, like top")
    s.add_argument(
        "--all",
        action="store_true",
        help="also the kernels stopped recently (the last 50), with their last exit",
    )
    s.add_argument("--interval", type=positive_seconds, default=2.0, metavar="SECONDS",
                   help="refresh period of --watch")  # fmt: skip

    command("shutdown", "stop every kernel, then the supervisor")

    s = command("clean", "remove connection files of kernels that are provably gone")
    s.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    return p
