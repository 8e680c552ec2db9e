"""Starting kernel processes: argument preparation, the Linux parent-death signal, spawning.

Upstream starts kernels in a new session and only *asks* them to exit when the parent dies
(``JPY_PARENT_PID``, polled by ipykernel); a SIGKILLed host therefore leaks kernels (pain
point 1 in the project notes, e.g. https://github.com/jupyter/jupyter_client/issues/104).
On Linux we additionally set ``PR_SET_PDEATHSIG = SIGKILL`` in the child between fork and
exec, so the kernel dies with its parent, unless ``independent=True``.

The parent-death signal fires when the *thread* that forked the child exits, not just the
process. Forking from a short-lived thread (a thread pool, trio's ``to_thread`` workers,
which trio's ``open_process`` uses) would kill the kernel when that thread retires. So
:func:`spawn` forks either on the main thread or on one long-lived daemon "spawner" thread
(named ``jupyter-client-runtime-spawner``) that lives until the interpreter exits.

:func:`prepare_launch` is shared by the blocking launcher and the trio kernel actor: it turns
``launch_kernel``'s arguments into ``subprocess.Popen`` keyword arguments (``args`` included).
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

__all__ = ["pdeathsig_supported", "prepare_launch", "should_close_stdin", "spawn"]

log = logging.getLogger("jupyter_client.launcher")

_PR_SET_PDEATHSIG = 1
_libc_prctl: Any = None


def _get_prctl() -> Any:
    """``prctl`` from libc, resolved in the parent (never look symbols up after fork)."""
    global _libc_prctl
    if _libc_prctl is None and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _libc_prctl = libc.prctl
            _libc_prctl.restype = ctypes.c_int
        except (OSError, AttributeError):
            _libc_prctl = False
    return _libc_prctl or None


def pdeathsig_supported() -> bool:
    """Whether this platform can tie a child's life to ours (Linux ``prctl``)."""
    return _get_prctl() is not None


def _make_pdeathsig_hook(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn`` that sets SIGKILL-on-parent-death, then closes the race.

    If the parent died between ``fork`` and ``prctl``, the signal will never come: the child
    has been re-parented already, so ``getppid()`` no longer matches and it kills itself.
    """
    prctl = _get_prctl()
    sig = int(signal.SIGKILL)
    ulong = ctypes.c_ulong

    def hook() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, ulong(sig), ulong(0), ulong(0), ulong(0))
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), sig)

    return hook


def should_close_stdin(stdin: Any) -> bool:
    """True when the caller passed ``stdin=None``: the kernel gets a pipe we close at once."""
    return stdin is None


def prepare_launch(
    cmd: Sequence[str],
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    env: dict[str, str] | None = None,
    independent: bool = False,
    cwd: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Popen keyword arguments (with ``args``) for ``launch_kernel``'s semantics.

    - ``stdin=None`` → ``PIPE`` (close it right after spawning: see :func:`should_close_stdin`),
      so a kernel never reads the host's terminal.
    - ``env=None`` → a copy of ``os.environ``; a given dict is updated *in place* with
      ``JPY_PARENT_PID`` (unless ``independent``), as upstream does.
    - POSIX: ``start_new_session=True`` (own process group for ``killpg``, no terminal
      Ctrl-C); Linux and not ``independent``: a ``preexec_fn`` setting the parent-death
      signal — fork via :func:`spawn` so the forking thread is long-lived.
    - every argv element goes through ``os.path.expanduser``.
    """
    args = [os.path.expanduser(str(c)) for c in cmd]
    under_pythonw = sys.executable.lower().endswith("pythonw.exe")
    if under_pythonw:  # pragma: no cover - Windows GUI interpreter
        stdout = subprocess.DEVNULL if stdout is None else stdout
        stderr = subprocess.DEVNULL if stderr is None else stderr
    env = env if env is not None else os.environ.copy()
    kwargs: dict[str, Any] = dict(kw)
    kwargs.update(
        args=args,
        stdin=subprocess.PIPE if stdin is None else stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=env,
    )
    if os.name == "nt":  # pragma: no cover - best effort, untested here
        flags = int(kwargs.get("creationflags", 0))
        if independent:
            flags |= getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)
        else:
            env["JPY_PARENT_PID"] = str(os.getpid())
        if under_pythonw:
            flags |= getattr(subprocess, "CREATE_NO_WINDOW", 0x08000000)
        kwargs["creationflags"] = flags
        kwargs["close_fds"] = False
        return kwargs
    kwargs["start_new_session"] = True
    if not independent:
        env["JPY_PARENT_PID"] = str(os.getpid())
        if pdeathsig_supported() and "preexec_fn" not in kw:
            kwargs["preexec_fn"] = _make_pdeathsig_hook(os.getpid())
    return kwargs


# -- spawning from a long-lived thread -------------------------------------------------------

_spawn_queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _spawner_main() -> None:
    while True:
        fn, fut = _spawn_queue.get()
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(fn())
        except BaseException as e:
            fut.set_exception(e)


def _in_long_lived_thread() -> bool:
    return threading.current_thread() in (threading.main_thread(), _spawner)


def spawn(kwargs: Mapping[str, Any], popen: Callable[..., Any] = subprocess.Popen) -> Any:
    """Call ``popen(**kwargs)`` from a thread that outlives the child's need for it.

    On the main thread (or when no parent-death hook is involved) this is a direct call;
    otherwise the fork happens on the process-wide spawner thread and this blocks until done.
    """
    if "preexec_fn" not in kwargs or _in_long_lived_thread():
        return popen(**kwargs)
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(
                target=_spawner_main, name="jupyter-client-runtime-spawner", daemon=True
            )
            _spawner.start()
    fut: Future[Any] = Future()
    _spawn_queue.put((lambda: popen(**kwargs), fut))
    return fut.result()
