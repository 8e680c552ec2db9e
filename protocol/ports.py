"""Choosing TCP ports for a kernel without upstream's bind-then-release race (where possible).

Upstream binds port 0, reads the number the OS picked and closes the socket; the kernel binds
that port later. The OS picks such numbers from its *ephemeral range*, the same pool every
outgoing connection and every other ``bind(0)`` on the machine draws from, so anything in
between can take the port ("ZMQError: Address already in use", see
https://github.com/jupyter/jupyter_client/issues/276).

Strategy (documented in docs/ports.md):

1. Read the ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``) and the admin's
   reserved ports (``ip_local_reserved_ports``), and pick candidates *outside* the ephemeral
   range — preferring the slice above it (inside IANA's dynamic range 49152-65535, where no
   registered service lives). The kernel cannot auto-assign those ports to anybody.
2. Test-bind each candidate (without ``SO_REUSEADDR``) on the kernel's ip: a port that is in
   use, or lingering in TIME_WAIT, is skipped.
3. Keep a process-wide reservation table so this process never hands out a port twice while
   a kernel may still be about to bind it. Reservations expire after ``ttl`` seconds (by then
   the kernel holds the port and a test-bind fails anyway) or are released explicitly.
4. Record each reservation as a claim that the user's other processes see
   (:mod:`~jupyter_client.protocol.port_claims`), and skip ports another live process claims:
   two hosts on one machine no longer pick the same port inside a kernel's start-up window.

Where the ephemeral range cannot be read (macOS, Windows) the allocator falls back to
upstream's ``bind(0)`` plus the same reservation table. ``JUPYTER_CLIENT_PORT_RANGE=lo-hi``
overrides the candidate pool (e.g. to match a firewall rule).
"""

from __future__ import annotations

import errno
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable

from jupyter_client.protocol.port_claims import SharedClaims

__all__ = ["PortAllocator", "default_allocator", "ephemeral_range", "reserved_ports"]

_PROC = "/proc/sys/net/ipv4/"
#: With fewer candidates than this above the ephemeral range, the slice below it joins in.
_MIN_UPPER = 1000
#: Lowest port considered below the ephemeral range (keeps clear of common dev servers).
_LOWER_FLOOR = 20000


def ephemeral_range(path: str = _PROC + "ip_local_port_range") -> tuple[int, int] | None:
    """The OS's ephemeral port range ``(lo, hi)`` inclusive, or None if unknown."""
    try:
        with open(path) as f:
            lo, hi = (int(x) for x in f.read().split()[:2])
    except (OSError, ValueError):
        return None
    return (lo, hi) if 0 < lo <= hi <= 65535 else None


def reserved_ports(path: str = _PROC + "ip_local_reserved_ports") -> frozenset[int]:
    """Ports the admin reserved for specific services (``8080,9000-9010`` syntax)."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return frozenset()
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
        except ValueError:
            continue
    return frozenset(out)


def _env_range() -> range | None:
    spec = os.environ.get("JUPYTER_CLIENT_PORT_RANGE", "").strip()
    if not spec:
        return None
    try:
        lo, hi = (int(x) for x in spec.split("-", 1))
    except ValueError:
        return None
    return range(max(lo, 1), min(hi, 65535) + 1) if lo <= hi else None


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def can_bind(ip: str, port: int) -> bool:
    """True if ``port`` can be bound on ``ip`` right now (no ``SO_REUSEADDR``).

    In-use and permission failures mean "not available"; an ip that is not local raises
    ``OSError`` (as upstream's ``bind((ip, 0))`` would), since no port can help then.
    """
    with socket.socket(_family(ip), socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _bind_zero(ip: str) -> int:
    with socket.socket(_family(ip), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\0" * 8)
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
    return port


class PortAllocator:
    """Process-wide port reservations plus the outside-the-ephemeral-range choice.

    Thread-safe; one instance per process (:func:`default_allocator`) is what gives the
    "never twice" guarantee within the process, and ``claims`` (default: the user's shared
    claim directory) across processes. ``clock``, ``rng`` and ``claims`` are injectable for
    tests.
    """

    def __init__(
        self,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        range_file: str = _PROC + "ip_local_port_range",
        reserved_file: str = _PROC + "ip_local_reserved_ports",
        claims: SharedClaims | None = None,
    ) -> None:
        self.ttl = ttl
        self.claims = claims if claims is not None else SharedClaims()
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._range_file = range_file
        self._reserved_file = reserved_file
        self._lock = threading.Lock()
        self._held: dict[int, float] = {}  # port -> expiry time
        _allocators.add(self)

    def _reset_in_child(self) -> None:
        """After ``fork()``: the reservations are the parent's, and so is the lock's state.

        A child that kept the table would report the parent's ports as its own reservations
        (and renew or release them as if they were); a lock some parent thread held at the
        fork would never be released in the child. The parent's claims still keep the child
        off its ports: their files name the parent's pid, which is alive.
        """
        self._lock = threading.Lock()
        self._held = {}

    # -- reservation table -------------------------------------------------------------
    def _expire(self) -> None:
        now = self._clock()
        for port in [p for p, t in self._held.items() if t <= now]:
            del self._held[port]

    @property
    def reserved(self) -> frozenset[int]:
        """Ports currently reserved by this process."""
        with self._lock:
            self._expire()
            return frozenset(self._held)

    def hold(self, port: int) -> None:
        """Mark a port (e.g. one chosen by configuration) as in use by this process."""
        with self._lock:
            self._held[port] = self._clock() + self.ttl
            self.claims.claim([port], self.ttl)  # a configured port: ours even if claimed

    def release(self, port: int) -> None:
        """Forget a reservation (kernel gone or port no longer needed); unknown ports ignored."""
        with self._lock:
            self._held.pop(port, None)
            self.claims.release([port])

    # -- choice ------------------------------------------------------------------------
    def candidate_pool(self) -> list[int] | None:
        """Ports outside the ephemeral range, minus admin-reserved ones; None = unknown."""
        forced = _env_range()
        if forced is not None:
            pool = list(forced)
        else:
            eph = ephemeral_range(self._range_file)
            if eph is None:
                return None
            lo, hi = eph
            pool = list(range(hi + 1, 65536))
            if len(pool) < _MIN_UPPER:
                pool.extend(range(max(_LOWER_FLOOR, 1024), lo))
        banned = reserved_ports(self._reserved_file)
        return [p for p in pool if p not in banned and p >= 1024]

    def allocate(self, ip: str, n: int = 1) -> list[int]:
        """Reserve and return ``n`` distinct free ports for ``ip``."""
        if n <= 0:
            return []
        ip = "" if ip in ("*",) else ip
        pool = self.candidate_pool()
        chosen: list[int] = []
        with self._lock, self.claims.locked() as shared:

            def ours(port: int) -> bool:  # not claimed by another live process; now ours
                return shared is None or shared.claim(port, self.ttl)

            self._expire()
            if pool:
                attempts = 0
                while len(chosen) < n and attempts < 64 * n:
                    attempts += 1
                    port = self._rng.choice(pool)
                    if port in self._held or port in chosen:
                        continue
                    if can_bind(ip, port) and ours(port):
                        chosen.append(port)
            # Fallback (unknown range or exhausted pool): upstream's bind(0), still cached.
            tries = 0
            while len(chosen) < n:
                tries += 1
                if tries > 1000:
                    for port in chosen:
                        if shared is not None:
                            shared.release(port)
                    raise RuntimeError(f"could not find {n} free ports on {ip!r}")
                port = _bind_zero(ip)
                if port not in self._held and port not in chosen and ours(port):
                    chosen.append(port)
            expiry = self._clock() + self.ttl
            for port in chosen:
                self._held[port] = expiry
        return chosen


#: Every allocator of this process, so a forked child can reset each (tests make their own).
_allocators: weakref.WeakSet[PortAllocator] = weakref.WeakSet()
_default: PortAllocator | None = None
_default_lock = threading.Lock()


def _reset_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    for allocator in list(_allocators):
        allocator._reset_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


def default_allocator() -> PortAllocator:
    """The process-wide allocator (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PortAllocator()
        return _default
