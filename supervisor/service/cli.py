"""``jupyter-supervisor``: run the kernel supervisor and drive it (docs/cli.md).

``serve`` is the long-lived process (:mod:`.daemon`); every other
subcommand is a short-lived client that sends one signed request over the control socket
(:mod:`.control`) and prints the answer. Clients import neither trio
nor zmq on their path, so ``status --json`` costs a Python start-up plus a round trip.

Exit codes: 0 ok; 1 the request failed or was refused (unknown id or kernelspec, a second
``serve``, a corrupt state file, ...); 2 usage error; 3 no supervisor is running; 4
authentication failed (wrong key).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from jupyter_client.supervisor.service.cli_args import build_parser
from jupyter_client.supervisor.service.control import AuthError, NotRunning, RequestFailed, call
from jupyter_client.supervisor.service.state import (
    CorruptState,
    Paths,
    UnsafeRuntimeDir,
    check_runtime_dir,
    load_key,
    load_state,
    output_tail,
    stale_temp_files,
)
from jupyter_client.supervisor.service.table import format_header, format_table, orphan_rows

__all__ = ["main"]

EXIT_ERROR, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_AUTH = 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _paths(args: argparse.Namespace) -> Paths:
    return Paths.default(args.runtime_dir)


def request(args: argparse.Namespace, op: str, **params: Any) -> Any:
    """One control request; maps failures to :class:`CliError` with the right exit code."""
    paths = _paths(args)
    if not os.path.exists(paths.socket):
        raise CliError(f"no supervisor is running (no control socket in {paths.runtime_dir})",
                       EXIT_NOT_RUNNING)  # fmt: skip
    try:
        key = load_key(args.key_file or paths.key)
    except FileNotFoundError:
        raise CliError(f"no supervisor is running: stale control socket {paths.socket} and no "
                       "key file", EXIT_NOT_RUNNING) from None  # fmt: skip
    except PermissionError as exc:
        raise CliError(f"cannot use the key file: {exc}", EXIT_AUTH) from None
    try:
        return call(paths.socket, key, op, params, timeout=args.timeout)
    except NotRunning as exc:
        raise CliError(str(exc), EXIT_NOT_RUNNING) from None
    except AuthError as exc:
        raise CliError(f"authentication failed: {exc}", EXIT_AUTH) from None
    except RequestFailed as exc:
        raise CliError(str(exc), EXIT_ERROR) from None
    except OSError as exc:
        raise CliError(f"cannot talk to the supervisor: {exc}", EXIT_ERROR) from None


# -- serve -------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        os.makedirs(paths.runtime_dir, mode=0o700, exist_ok=True)
        check_runtime_dir(paths.runtime_dir)
    except (OSError, UnsafeRuntimeDir) as exc:
        raise CliError(str(exc)) from None
    if args.daemon:
        return _daemonize(args, paths)
    import trio

    from jupyter_client.supervisor.service.daemon import AlreadyRunning, Service, acquire_lock

    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        lock = acquire_lock(paths)
    except AlreadyRunning as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # e.g. ELOOP: a link planted in the lock file's place
        raise CliError(f"cannot open the lock file {paths.lock}: {exc}") from None
    clean = False
    try:
        try:
            saved = load_state(paths)
        except CorruptState as exc:
            raise CliError(f"{exc}\nrefusing to start; the file is left untouched (fix or "
                           "remove it)") from None  # fmt: skip
        for tmp in stale_temp_files(paths):  # a previous supervisor died mid-write
            logging.warning("removing %s (left by an interrupted write)", tmp)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if os.path.lexists(paths.socket):
            logging.warning("removing stale control socket %s (its supervisor is gone)",
                            paths.socket)  # fmt: skip
            os.unlink(paths.socket)
        svc = Service(paths, saved, heartbeat=args.heartbeat, hung_after=args.hung_after,
                      shutdown_wait=args.shutdown_wait, cwd=os.getcwd(),
                      startup_timeout=args.startup_timeout or None,
                      transport=args.transport, encryption=args.encryption)  # fmt: skip

        def ready() -> None:
            print(f"jupyter-supervisor: serving on {paths.socket} (pid {os.getpid()}, "
                  f"{len(svc.kernels) - svc.relaunched} kernel(s) re-adopted"
                  f"{f', {svc.relaunched} restarted' if svc.relaunched else ''})",
                  flush=True)  # fmt: skip

        trio.run(lambda: svc.run(on_ready=ready))
        clean = True
    finally:
        if clean:
            svc.cleanup_files()
        else:
            for path in (paths.socket, paths.key):
                if os.path.lexists(path):
                    os.unlink(path)
        os.unlink(paths.lock)
        os.close(lock)
    print("jupyter-supervisor: stopped", flush=True)
    return 0


def _daemonize(args: argparse.Namespace, paths: Paths) -> int:
    argv = [sys.executable, "-m", "jupyter_client.supervisor.service.cli", "--runtime-dir",
            paths.runtime_dir, "serve", "--heartbeat", str(args.heartbeat), "--hung-after",
            str(args.hung_after), "--shutdown-wait", str(args.shutdown_wait),
            "--startup-timeout", str(args.startup_timeout),
            "--transport", args.transport, "--encryption", args.encryption,
            "--log-level", args.log_level]  # fmt: skip
    try:
        fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise CliError(f"cannot open the log file {paths.log}: {exc}") from None
    with os.fdopen(fd, "ab") as logf:
        os.fchmod(logf.fileno(), 0o600)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(f"the supervisor exited with code {proc.returncode}; see {paths.log}")
        try:
            request(args, "ping")
        except CliError:
            time.sleep(0.05)
            continue
        print(f"jupyter-supervisor: serving in the background (pid {proc.pid}, log {paths.log})")
        return 0
    raise CliError(f"the supervisor did not come up within 30 s; see {paths.log}")


# -- clients -----------------------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    from jupyter_core.paths import jupyter_path  # the caller's kernelspec search path

    policy, limit = args.restart_policy
    if args.wait:  # the request may take as long as the wait, and then some
        args.timeout = max(args.timeout, args.wait_timeout + 30.0)
    res = request(args, "start", name=args.name, id=args.id, restart_policy=policy,
                  restart_limit=limit, stable_start_time=args.stable_start_time,
                  backoff=args.backoff, backoff_max=args.backoff_max, wait=args.wait,
                  wait_timeout=args.wait_timeout, wedged_after=args.wedged_after,
                  on_wedged=args.on_wedged,
                  cwd=os.path.abspath(args.cwd) if args.cwd else os.getcwd(),
                  env=dict(args.env), kernel_path=jupyter_path("kernels"))  # fmt: skip
    print(res["id"])
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    if not args.all and not args.id:
        raise CliError("stop: give a kernel ID or --all", EXIT_USAGE)
    res = request(args, "stop", id=args.id, all=args.all, now=args.now)
    for kid in res["stopped"]:
        print(f"stopped {kid}")
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    res = request(args, "restart", id=args.id, now=args.now)
    print(f"restarted {res['id']} (pid {res['pid']})")
    return 0


def cmd_interrupt(args: argparse.Namespace) -> int:
    res = request(args, "interrupt", id=args.id)
    print(f"interrupted {res['id']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = request(args, "list")
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['id']}\t{r['name']}\t{r['state']}\t{r['pid'] or '-'}")
    return 0


def cmd_connect_info(args: argparse.Namespace) -> int:
    res = request(args, "connect-info", id=args.id)
    print(json.dumps(res["info"], indent=2) if args.json else res["connection_file"])
    return 0


def _describe(ev: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev["at"]))
    parts = [when, f"{ev['kind']:<11}"]
    if ev.get("pid"):
        parts.append(f"pid={ev['pid']}")
    if ev.get("signal"):
        parts.append(f"signal={ev['signal']}")
    elif ev.get("exit_code") is not None:
        parts.append(f"exit_code={ev['exit_code']}")
    parts.append(f"restarts={ev.get('restarts', 0)}")
    if ev.get("detail"):
        parts.append(str(ev["detail"]))
    return "  ".join(parts)


def cmd_logs(args: argparse.Namespace) -> int:
    res = request(args, "logs", id=args.id, lines=args.lines)
    if args.output:
        return print_output(res["log_file"], args.lines, follow=args.follow)
    if args.json:
        print(json.dumps(res["events"]))
    else:
        for ev in res["events"]:
            print(_describe(ev))
    return 0


def print_output(path: str, lines: int, *, follow: bool) -> int:
    """``logs --output``: the last ``lines`` lines of the kernel's output; with ``follow``,
    then what it writes next (polling, as ``tail -f``), until Ctrl-C or the file goes."""
    if not os.path.exists(path):
        raise CliError(f"no output recorded ({path} does not exist)")
    for line in output_tail(path, lines) if lines else []:
        print(line)
    sys.stdout.flush()
    if not follow:
        return 0
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        while True:
            chunk = f.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                continue
            if not os.path.exists(path):
                print(f"jupyter-supervisor: {path} was removed (kernel stopped)", file=sys.stderr)
                return 0
            if os.path.getsize(path) < f.tell():  # truncated: start over
                f.seek(0)
            time.sleep(0.2)


def _orphan_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """What the state file of a supervisor that is gone knows (``orphan``: still running)."""
    try:
        saved = load_state(_paths(args))
    except CorruptState as exc:
        print(f"jupyter-supervisor: {exc}", file=sys.stderr)
        saved = None
    return orphan_rows(list(saved.kernels.values())) if saved else []


def _orphans_text(rows: list[dict[str, Any]], colour: bool) -> str:
    if not rows:
        return ""
    return ("kernels left by a previous supervisor (orphan = still running; `serve` "
            "re-adopts them):\n" + format_table(rows, colour=colour))  # fmt: skip


def _colour() -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _screen(args: argparse.Namespace) -> str:
    """The header and the table (CliError EXIT_NOT_RUNNING when no supervisor answers)."""
    info = request(args, "ping")
    rows = request(args, "status", all=args.all)
    table = format_table(rows, colour=_colour()) if rows else "no kernels"
    return f"{format_header(info)}\n\n{table}"


def cmd_status(args: argparse.Namespace) -> int:
    if args.json:
        try:
            print(json.dumps(request(args, "status", all=args.all)))
            return 0
        except CliError as exc:
            if exc.code != EXIT_NOT_RUNNING:
                raise
            print(f"jupyter-supervisor: {exc}", file=sys.stderr)
            print(json.dumps(_orphan_rows(args)))
            return EXIT_NOT_RUNNING
    if not args.watch:
        try:
            print(_screen(args))
            return 0
        except CliError as exc:
            if exc.code != EXIT_NOT_RUNNING:
                raise
            print(f"jupyter-supervisor: {exc}", file=sys.stderr)
            text = _orphans_text(_orphan_rows(args), _colour())
            if text:
                print(text)
            return EXIT_NOT_RUNNING
    gone_since: str | None = None
    try:
        while True:  # like top: the supervisor may go away and come back meanwhile
            try:
                text, gone_since = _screen(args), None
            except CliError as exc:
                if exc.code != EXIT_NOT_RUNNING:
                    raise
                gone_since = gone_since or time.strftime("%H:%M:%S")
                text = (f"no supervisor is running (since {gone_since}); waiting for one\n\n"
                        + _orphans_text(_orphan_rows(args), _colour()))  # fmt: skip
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(f"\x1b[H\x1b[2Jjupyter-supervisor status  {stamp}  (every "
                             f"{args.interval:g} s; Ctrl-C to quit)\n{text}\n")  # fmt: skip
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Remove connection files of kernels that are provably gone (clean.py says how)."""
    from jupyter_client.supervisor.service.clean import stale_connection_files

    paths = _paths(args)
    try:
        saved = load_state(paths)
    except CorruptState as exc:  # then nothing can be told apart from its kernels: refuse
        raise CliError(f"{exc}; not cleaning") from None
    managed = {os.path.abspath(r.connection_file) for r in (saved.kernels.values() if saved
                                                              else ())}  # fmt: skip
    removed = 0
    for verdict in stale_connection_files(paths.runtime_dir, managed):
        if not verdict.gone:
            print(f"{verdict.why}: {verdict.path}")
            continue
        if not args.dry_run:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(verdict.path)
        removed += 1
        print(f"{'would remove' if args.dry_run else 'removed'} {verdict.path} ({verdict.why})")
    print(f"{'would remove' if args.dry_run else 'removed'} {removed} connection file"
          f"{'' if removed == 1 else 's'}")  # fmt: skip
    return 0


def cmd_shutdown(args: argparse.Namespace) -> int:
    res = request(args, "shutdown")
    paths = _paths(args)
    deadline = time.monotonic() + args.timeout
    while os.path.lexists(paths.lock) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"supervisor {res['pid']} stopped")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": cmd_serve, "start": cmd_start, "stop": cmd_stop, "restart": cmd_restart,
    "interrupt": cmd_interrupt, "list": cmd_list, "connect-info": cmd_connect_info,
    "logs": cmd_logs, "status": cmd_status, "shutdown": cmd_shutdown, "clean": cmd_clean,
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser(COMMANDS).parse_args(argv)
    try:
        return int(args.fn(args))
    except CliError as exc:
        print(f"jupyter-supervisor: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
