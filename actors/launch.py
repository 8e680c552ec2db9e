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

__all__ = [
    "SPAWNER_THREAD_NAME",
    "pdeathsig_supported",
    "prepare_launch",
    "run_on_spawner",
    "should_close_stdin",
    "spawn",
]

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
#
# One spawner for both callers: ``spawn`` below (the blocking launcher) and the trio process
# actor's ``spawn_async`` (actors/process.py) hand their ``Popen`` calls to the same thread.

SPAWNER_THREAD_NAME = "jupyter-client-runtime-spawner"

#: A job for the spawner: the call, and who receives ``(result, error)`` (on the spawner).
SpawnJob = tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]


class _Spawner:
    """The long-lived daemon thread that forks kernels, started on first use.

    Forked children get a fresh one (:meth:`forget`): a child inherits this object but not the
    thread, and jobs queued for a thread that does not exist would wait forever.
    """

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[SpawnJob]
        self.thread: threading.Thread | None
        self.lock: threading.Lock
        self.reset()

    def reset(self) -> None:
        """Start from nothing; in a forked child, this drops the parent's thread (absent
        there), its queue (jobs nobody will run) and its lock (another thread may have held
        it at the fork, and would never release it in the child)."""
        self.jobs = queue.SimpleQueue()
        self.thread = None
        self.lock = threading.Lock()

    def _main(self, jobs: queue.SimpleQueue[SpawnJob]) -> None:
        while True:
            fn, deliver = jobs.get()
            try:
                result = fn()
            except BaseException as exc:
                deliver(None, exc)
            else:
                deliver(result, None)

    def submit(self, job: SpawnJob) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._main, args=(self.jobs,), name=SPAWNER_THREAD_NAME, daemon=True
                )
                self.thread.start()
            self.jobs.put(job)

    def is_current(self) -> bool:
        return self.thread is not None and threading.current_thread() is self.thread


_spawner = _Spawner()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_spawner.reset)


def run_on_spawner(
    fn: Callable[[], Any], deliver: Callable[[Any, BaseException | None], None]
) -> None:
    """Queue ``fn`` for the spawner thread; ``deliver(result, error)`` is called there."""
    _spawner.submit((fn, deliver))


def _in_long_lived_thread() -> bool:
    return threading.current_thread() is threading.main_thread() or _spawner.is_current()


def spawn(kwargs: Mapping[str, Any], popen: Callable[..., Any] = subprocess.Popen) -> Any:
    """Call ``popen(**kwargs)`` from a thread that outlives the child's need for it.

    On the main thread (or when no parent-death hook is involved) this is a direct call;
    otherwise the fork happens on the process-wide spawner thread and this blocks until done.
    """
    if "preexec_fn" not in kwargs or _in_long_lived_thread():
        return popen(**kwargs)
    fut: Future[Any] = Future()

    def deliver(result: Any, error: BaseException | None) -> None:
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    run_on_spawner(lambda: popen(**kwargs), deliver)
    return fut.result()
