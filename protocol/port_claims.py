"""Port reservations that the user's other processes can see.

Why: :class:`~jupyter_client.protocol.ports.PortAllocator` keeps its reservations in memory, so
they only bind the process that made them. Two processes that use this allocator at once (a
Jupyter Server and a ``jupyter-supervisor``, two papermill runs, two pytest-xdist workers)
draw from the same pool and can pick the same port inside a kernel's start-up window; the
later kernel then dies at bind. Our managers notice and retry (docs/ports.md), but a retry
costs a restart from ``restart_limit`` and a client made for the old ports.

How: one small file per claimed port in a per-user directory, written while holding an
exclusive ``flock`` on the directory's lock file. The lock is taken and dropped within one
call, so no file descriptor outlives it. A claim file names its owner's pid and an expiry in
wall-clock time (processes share no monotonic clock). A claim counts while its owner lives and
its expiry lies ahead; otherwise it is stale, and the next claimant replaces it or a sweep
deletes it. So a process that was SIGKILLed holds nothing.

This layer only ever narrows the choice. Where it cannot work (no ``fcntl`` on Windows, a
directory that cannot be made private, any I/O error), claims succeed without a record and the
allocator behaves as it did with in-memory reservations alone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SharedClaims", "default_claims_dir"]

log = logging.getLogger(__name__)

_LOCK = "lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where claims are off anyway

#: Lock-file descriptors of transactions running now (any thread). A child forked meanwhile
#: inherits them, and with them the flock: it would stay held until the child exited, though
#: the parent's transaction ended long before. The child closes its copies at once (closing a
#: duplicate does not drop the parent's lock; ``LOCK_UN`` would, so it is never used here).
_open_lock_fds: set[int] = set()


def _close_inherited_lock_fds() -> None:
    for fd in list(_open_lock_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _open_lock_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_lock_fds)


def default_claims_dir() -> str:
    """``$JUPYTER_CLIENT_PORT_DIR``, else ``<tempdir>/jupyter-client-ports-<uid>``."""
    forced = os.environ.get("JUPYTER_CLIENT_PORT_DIR", "").strip()
    if forced:
        return forced
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"jupyter-client-ports-{uid}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process, but alive
    except (OSError, OverflowError):
        return False
    return True


def _lock_within(fd: int, seconds: float) -> bool:
    """Take an exclusive flock on ``fd``, waiting at most ``seconds``."""
    assert fcntl is not None
    deadline = time.monotonic() + seconds
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


class SharedClaims:
    """Claims on ports, shared by every process of this user that uses the same directory.

    ``directory=None`` means :func:`default_claims_dir` at each call, so an environment change
    (tests) takes effect. ``clock`` is wall-clock seconds; injectable for tests. Stale claim
    files are swept on the first transaction and then at most every ``sweep_every`` seconds
    (None: only when :meth:`sweep` is called).
    """

    #: Longest wait for the directory lock. Holders keep it for well under a millisecond;
    #: the callers (kernel starts) run on event loops that must not stall.
    LOCK_WAIT = 0.5

    def __init__(
        self,
        directory: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sweep_every: float | None = 60.0,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self.sweep_every = sweep_every
        self._last_sweep: float | None = None
        self._warned = False

    @property
    def directory(self) -> str:
        return self._directory or default_claims_dir()

    # -- the directory and its lock -----------------------------------------------------------
    def _private_dir(self) -> str | None:
        """The claims directory, made if missing; None if it is not ours alone."""
        d = self.directory
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            st = os.lstat(d)  # a link in its place could lead anywhere: not ours
        except OSError as e:
            self._warn(f"cannot use port claim directory {d!r}: {e}")
            return None
        uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
            # Another user could plant or delete claims in it: do not trust it.
            self._warn(f"port claim directory {d!r} is not private to this user; not using it")
            return None
        return d

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s (ports are reserved for this process only)", message)

    @contextlib.contextmanager
    def locked(self) -> Iterator[_Transaction | None]:
        """Hold the directory lock for one transaction; None if shared claims are off."""
        d = self._private_dir() if fcntl is not None else None
        if d is None:
            yield None
            return
        try:
            fd = os.open(os.path.join(d, _LOCK), os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        except OSError as e:
            self._warn(f"cannot open {os.path.join(d, _LOCK)!r}: {e}")
            yield None
            return
        _open_lock_fds.add(fd)
        try:
            if not _lock_within(fd, self.LOCK_WAIT):
                # A holder stopped mid-transaction (SIGSTOP, a debugger): never hang a kernel
                # start on it; this allocation goes without shared claims.
                log.warning("port claim lock %s busy for %g s; not using it for this "
                            "allocation", os.path.join(d, _LOCK), self.LOCK_WAIT)  # fmt: skip
                yield None
                return
            txn = _Transaction(d, self._clock())
            every = self.sweep_every
            if every is not None and (
                self._last_sweep is None or txn.now - self._last_sweep >= every
            ):
                self._last_sweep = txn.now
                txn.sweep()
            yield txn
        finally:
            _open_lock_fds.discard(fd)
            os.close(fd)  # closing drops the flock

    # -- one-call helpers ---------------------------------------------------------------------
    def claim(self, ports: list[int], ttl: float) -> list[int]:
        """Claim what can be claimed of ``ports``; the ones now ours (all, if shared claims
        are off)."""
        with self.locked() as txn:
            if txn is None:
                return list(ports)
            return [p for p in ports if txn.claim(p, ttl)]

    def release(self, ports: list[int]) -> None:
        """Drop our claims on ``ports`` (others' claims and unknown ports are left alone)."""
        with self.locked() as txn:
            if txn is not None:
                for p in ports:
                    txn.release(p)

    def owner(self, port: int) -> int | None:
        """The pid whose live claim holds ``port``, or None."""
        with self.locked() as txn:
            return None if txn is None else txn.owner(port)

    def sweep(self) -> int:
        """Delete stale claim files now; how many were deleted."""
        with self.locked() as txn:
            return 0 if txn is None else txn.sweep()


class _Transaction:
    """Claim-file operations while the directory lock is held."""

    def __init__(self, directory: str, now: float) -> None:
        self.directory = directory
        self.now = now
        self.pid = os.getpid()

    def _path(self, port: int) -> str:
        return os.path.join(self.directory, str(port))

    def _read(self, port: int) -> tuple[int, float] | None:
        """``(pid, expiry)`` of the claim file, None if missing; malformed reads as stale."""
        try:
            with open(self._path(port), "rb") as f:
                raw = f.read(64)
        except FileNotFoundError:
            return None
        except OSError:  # e.g. a directory in its place: unusable, so stale
            return (0, 0.0)
        try:
            pid_s, expiry_s = raw.decode("ascii").split()
            pid, expiry = int(pid_s), float(expiry_s)
        except (UnicodeDecodeError, ValueError):
            return (0, 0.0)
        return (pid, expiry) if math.isfinite(expiry) else (0, 0.0)

    def _live(self, record: tuple[int, float]) -> bool:
        pid, expiry = record
        return pid > 0 and expiry > self.now and _alive(pid)

    def owner(self, port: int) -> int | None:
        record = self._read(port)
        return record[0] if record is not None and self._live(record) else None

    def claim(self, port: int, ttl: float) -> bool:
        """Take ``port`` unless another live process holds an unexpired claim on it."""
        record = self._read(port)
        if record is not None and record[0] != self.pid and self._live(record):
            return False
        tmp = os.path.join(self.directory, f".{port}.{self.pid}")
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"{self.pid} {self.now + ttl:.3f}\n")
            os.replace(tmp, self._path(port))
        except OSError as e:
            log.debug("could not record a claim on port %s: %s", port, e)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return True

    def release(self, port: int) -> None:
        record = self._read(port)
        if record is not None and record[0] == self.pid:
            with contextlib.suppress(OSError):
                os.unlink(self._path(port))

    def sweep(self) -> int:
        removed = 0
        try:
            names = os.listdir(self.directory)
        except OSError:
            return 0
        for name in names:
            if not name.isdigit():
                continue
            record = self._read(int(name))
            if record is not None and not self._live(record):
                try:
                    os.unlink(self._path(int(name)))
                    removed += 1
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        log.debug("could not remove stale claim %s: %s", name, e)
        return removed
