"""The supervisor's files in the Jupyter runtime dir, and its crash-safe state file.

Why a state file at all: the supervisor starts kernels *independent* (no parent-death
signal), so they outlive a supervisor that is SIGKILLed. The next ``serve`` can only adopt
them if it knows what they were, so every change of the kernel table (start, restart, stop,
death) is written to ``jupyter-supervisor-state.json`` before the command that caused it
returns.

Why atomic: a SIGKILL can land in the middle of a write. The file is written to a temporary
name in the same directory, ``fsync``-ed, then ``rename``-d over the old one, so a reader sees
either the old table or the new one, never half of each.

Why ``create_time``: pids are reused. A pid in the state file is only "the same kernel" if
the process with that pid was created at the recorded time (psutil's ``create_time``, to
the 10 ms the kernel reports), so a re-adopting supervisor never signals a stranger.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import psutil
from jupyter_core.paths import jupyter_runtime_dir

from jupyter_client.actors.identity import same_process

__all__ = [
    "AlreadyRunning",
    "acquire_lock",
    "CorruptState",
    "KernelRecord",
    "Paths",
    "SupervisorState",
    "create_time_of",
    "load_key",
    "load_state",
    "same_process",
    "write_key",
    "write_state",
]

STATE_VERSION = 1


class CorruptState(Exception):
    """The state file exists but cannot be understood; it is left untouched."""


@dataclass(frozen=True)
class Paths:
    """Where the supervisor keeps its files (all in the runtime dir, all mode 0600)."""

    runtime_dir: str

    @classmethod
    def default(cls, runtime_dir: str | None = None) -> Paths:
        return cls(os.path.abspath(runtime_dir or jupyter_runtime_dir()))

    def _p(self, name: str) -> str:
        return os.path.join(self.runtime_dir, name)

    @property
    def socket(self) -> str:
        return self._p("jupyter-supervisor.sock")

    @property
    def key(self) -> str:
        return self._p("jupyter-supervisor.key")

    @property
    def state(self) -> str:
        return self._p("jupyter-supervisor-state.json")

    @property
    def lock(self) -> str:
        return self._p("jupyter-supervisor.lock")

    @property
    def log(self) -> str:
        return self._p("jupyter-supervisor.log")

    def connection_file(self, kernel_id: str) -> str:
        return self._p(f"kernel-{kernel_id}.json")

    def kernel_log(self, kernel_id: str) -> str:
        return self._p(f"kernel-{kernel_id}.log")

    def stopped_log(self, kernel_id: str) -> str:
        """The output of a stopped kernel, kept by the history (history.py)."""
        return self._p(f"kernel-{kernel_id}.stopped.log")


@dataclass
class KernelRecord:
    """What survives a supervisor crash about one kernel."""

    id: str
    name: str
    connection_file: str
    pid: int | None = None
    create_time: float | None = None
    restart_limit: int = 5
    stable_start_time: float = 10.0
    interrupt_mode: str = "signal"
    restarts: int = 0
    created_at: float = 0.0
    started_at: float = 0.0
    state: str = "starting"
    events: list[dict[str, Any]] = field(default_factory=list)
    #: A copy of the connection info (ports, key): what the next supervisor rebuilds a lost or
    #: damaged connection file from. The state file is 0600 in the 0700 runtime dir, as the
    #: connection file itself.
    connection: dict[str, Any] | None = None
    #: ``always`` | ``on-failure`` | ``never`` (docs/cli.md); backoff before restarts, in s.
    restart_policy: str = "on-failure"
    backoff: float = 0.5
    backoff_max: float = 30.0
    #: How its last process ended (``status --json``'s ``last_exit``; None before any exit).
    last_exit: dict[str, Any] | None = None
    #: The caller's context at ``start``: working directory, extra environment, and the
    #: kernelspec search path it resolved the name on (None: the supervisor's).
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    kernel_path: list[str] | None = None
    #: Readiness watchdog (watchdog.py): seconds without a kernel_info reply (0: off), and
    #: what follows: ``report`` | ``interrupt`` | ``restart``.
    wedged_after: float = 60.0
    on_wedged: str = "report"
    #: Unix time of its ``stop`` (history records only).
    stopped_at: float | None = None


@dataclass
class SupervisorState:
    pid: int = 0
    create_time: float = 0.0
    kernels: dict[str, KernelRecord] = field(default_factory=dict)
    #: Recently stopped kernels (history.py), oldest first.
    history: list[KernelRecord] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "pid": self.pid,
                "create_time": self.create_time,
                "kernels": [asdict(k) for k in self.kernels.values()],
                "history": [asdict(k) for k in self.history],
            },
            indent=1,
        )


def _write_private(path: str, data: bytes) -> None:
    """Atomically replace ``path`` by ``data`` (tmp + fsync + rename), mode 0600."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):  # a stale one of a previous holder of our pid
        os.unlink(tmp)
    # New, and never through a link planted in its place (O_EXCL does not follow links either).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def stale_temp_files(paths: Paths) -> list[str]:
    """The temporary files of :func:`_write_private` left in the runtime dir by a supervisor
    that died mid-write. Only for the lock holder to call: no other writer is running then."""
    prefixes = [os.path.basename(p) + "." for p in (paths.state, paths.key)]
    try:
        names = sorted(os.listdir(paths.runtime_dir))
    except OSError:
        return []
    return [
        os.path.join(paths.runtime_dir, n)
        for n in names
        for prefix in prefixes
        if n.startswith(prefix) and n.endswith(".tmp") and n[len(prefix) : -4].isdigit()
    ]


def write_state(paths: Paths, state: SupervisorState) -> None:
    _write_private(paths.state, state.to_json().encode())


class _Header(msgspec.Struct):
    version: Any = None


class _StateDoc(msgspec.Struct):
    version: int
    pid: int
    create_time: float
    kernels: list[KernelRecord]
    history: list[KernelRecord] = msgspec.field(default_factory=list)


def load_state(paths: Paths) -> SupervisorState | None:
    """The saved state, None if there is none; :class:`CorruptState` if unreadable.

    Every field is type-checked as it is decoded (msgspec), so any damage, whatever its shape
    (``null``, a list, a pid of ``"abc"``, nesting deeper than the decoder will follow, invalid
    UTF-8), is one :class:`CorruptState` naming the file and where it is wrong."""
    try:
        with open(paths.state, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptState(f"cannot read {paths.state}: {exc}") from exc
    try:
        version = msgspec.json.decode(raw, type=_Header).version
        if version != STATE_VERSION:
            raise CorruptState(f"corrupt state file {paths.state}: unknown format "
                               f"(version {version!r:.40})")  # fmt: skip
        doc = msgspec.json.decode(raw, type=_StateDoc)
    except (msgspec.DecodeError, RecursionError) as exc:  # ValidationError is a DecodeError
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise CorruptState(f"corrupt state file {paths.state}: {what}") from None
    kernels: dict[str, KernelRecord] = {}
    for rec in doc.kernels:
        if rec.id in kernels:
            raise CorruptState(f"corrupt state file {paths.state}: kernel id {rec.id!r} twice")
        kernels[rec.id] = rec
    return SupervisorState(doc.pid, doc.create_time, kernels, list(doc.history))


# -- the control key ---------------------------------------------------------------------------


def write_key(paths: Paths) -> bytes:
    """A fresh random key for this supervisor run, in a 0600 file."""
    key = secrets.token_hex(32).encode()
    _write_private(paths.key, key)
    return key


def load_key(path: str) -> bytes:
    """Read a key file, refusing one that other users could read or that is not ours."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if os.name != "nt":
            if st.st_uid != os.getuid():
                raise PermissionError(f"{path} is not owned by this user")
            if stat.S_IMODE(st.st_mode) & 0o077:
                raise PermissionError(f"{path} is readable by other users (mode "
                                      f"{oct(stat.S_IMODE(st.st_mode))}); refusing it")  # fmt: skip
        data = os.read(fd, 4096).strip()
    finally:
        os.close(fd)
    if not data:
        raise PermissionError(f"{path} is empty")
    return data


# -- process identity --------------------------------------------------------------------------


def create_time_of(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


# -- the runtime dir ------------------------------------------------------------------------------


class UnsafeRuntimeDir(Exception):
    """The runtime dir could be written by someone else: serving from it is refused."""


def check_runtime_dir(path: str) -> None:
    """Refuse a runtime dir that is not a directory of ours that only we can write in: anyone
    who can write there can plant links (the lock, logs, state) or replace the socket."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeRuntimeDir(f"runtime dir {path} is not a directory")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid():
        owner, me = _user(st.st_uid), _user(os.getuid())
        raise UnsafeRuntimeDir(f"runtime dir {path} is owned by {owner}, not by you ({me}); "
                               "refusing to serve from it")  # fmt: skip
    if mode & 0o022:
        raise UnsafeRuntimeDir(f"runtime dir {path} has mode {oct(mode)}: other users can write "
                               f"in it; refusing to serve from it (chmod 700 {path})")  # fmt: skip


def _user(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def inside(paths: Paths, path: str) -> bool:
    """Whether ``path`` names an entry directly in the runtime dir (what we may delete)."""
    here = os.path.normpath(os.path.abspath(paths.runtime_dir))
    return os.path.dirname(os.path.normpath(os.path.abspath(path))) == here


# -- one supervisor per runtime dir -------------------------------------------------------------


class AlreadyRunning(Exception):
    pass


def acquire_lock(paths: Paths) -> int:
    """Take the runtime dir's supervisor lock (an fd to keep open) or raise AlreadyRunning."""
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.read(fd, 64).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise AlreadyRunning(f"a supervisor is already running for {paths.runtime_dir} "
                             f"(pid {other})") from None  # fmt: skip
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def output_tail(path: str, lines: int = 20) -> list[str]:
    """The last ``lines`` lines of the kernel's output file (stdout and stderr), if any."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 64 * 1024, 0))
            data = f.read()
    except OSError:
        return []
    tail = deque(data.decode("utf-8", "replace").splitlines(), maxlen=lines)
    return list(tail)
