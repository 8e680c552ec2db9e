"""Restart policy: upstream's ``KernelRestarter`` arithmetic without its poll loop.

Upstream's restarter wakes every ``time_to_dead`` (3 s), asks ``is_alive()`` and keeps four
pieces of state (``_restart_count``, ``_restarting``, ``_initial_startup``, ``_last_dead``).
What it decides depends only on *when* the kernel was seen alive and when it was seen dead,
so the same decisions can be made from events: the supervisor reports "alive at t" (after a
start, and implicitly just before a death) and "dead at t" (the exit event), and this class
answers what to do. It does no I/O and reads no clock; callers pass ``now``.

The rules (upstream.md §8), in event form:

* :meth:`RestartPolicy.on_alive` is upstream's alive branch: the first call fixes
  ``last_dead`` (upstream initialises it lazily at its first read); once the kernel has been
  alive for ``stable_start_time`` since the last death, the initial start-up is over (no more
  fresh ports) and the restart streak ends (the next death counts from 1 again).
* :meth:`RestartPolicy.on_death` is the dead branch: ``last_dead = now``; the count goes up by
  one during a streak, else starts at 1; above ``restart_limit`` the policy gives up (and
  resets the streak, as upstream does before stopping); otherwise it restarts, with new ports
  only while the initial start-up has not proved stable (``random_ports_until_alive``).

Because the supervisor calls ``on_alive(t)`` at the moment a death is noticed, a kernel that
lived ``stable_start_time`` or longer is judged stable at its death, which is what upstream's
poll concludes a poll period later (see tests/test_policy.py for the comparison).

Two extensions, off by default so the arithmetic above is upstream's exactly (the
``jupyter-supervisor`` service turns both on, as systemd and OTP do):

* ``restart_clean_exits=False`` is systemd's ``Restart=on-failure``: an exit with code 0 (the
  user typed ``exit``) is not a failure and is not restarted (:meth:`restarts_clean_exit`).
* ``backoff`` > 0 delays the restart after the n-th death in a streak by
  ``backoff * 2**(n-1)`` seconds, capped at ``backoff_max``, times a random factor in
  ``1 ± jitter`` (so a crash-looping herd does not relaunch in step). A stable run ends the
  streak and with it the delay. The randomness is an injected ``random.Random``; no clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "RestartPolicy"]


@dataclass(frozen=True)
class Decision:
    """What to do about a death: ``kind`` is ``"restart"`` or ``"give_up"``; ``newports``
    asks for fresh ports on the restart; ``count`` is the streak count after this death;
    ``delay`` the seconds to wait before the restart (backoff; 0 without)."""

    kind: Literal["restart", "give_up"]
    newports: bool
    count: int
    delay: float = 0.0

    @property
    def restart(self) -> bool:
        return self.kind == "restart"


class RestartPolicy:
    """Upstream's defaults: ``restart_limit=5``, ``stable_start_time=10.0``,
    ``random_ports_until_alive=True``."""

    def __init__(
        self,
        *,
        restart_limit: int = 5,
        stable_start_time: float = 10.0,
        random_ports_until_alive: bool = True,
        restart_clean_exits: bool = True,
        backoff: float = 0.0,
        backoff_max: float = 30.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
    ) -> None:
        self.restart_limit = restart_limit
        self.stable_start_time = stable_start_time
        self.random_ports_until_alive = random_ports_until_alive
        self.restart_clean_exits = restart_clean_exits
        self.backoff = max(backoff, 0.0)
        self.backoff_max = max(backoff_max, 0.0)
        self.jitter = min(max(jitter, 0.0), 1.0)
        self.rng = rng or random.Random()
        # upstream's private state, same names without the underscore
        self.restart_count = 0
        self.restarting = False
        self.initial_startup = True
        self.last_dead: float | None = None

    def __repr__(self) -> str:
        return (
            f"<RestartPolicy count={self.restart_count}/{self.restart_limit} "
            f"restarting={self.restarting} initial={self.initial_startup}>"
        )

    def on_alive(self, now: float) -> None:
        """The kernel was alive at ``now``."""
        if self.last_dead is None:
            self.last_dead = now
        stable = now - self.last_dead >= self.stable_start_time
        if stable:
            self.initial_startup = False
            self.restarting = False

    def on_death(self, now: float) -> Decision:
        """The kernel was found dead at ``now`` (or a restart attempt failed at ``now``)."""
        self.last_dead = now
        self.restart_count = self.restart_count + 1 if self.restarting else 1
        if self.restart_count > self.restart_limit:
            count = self.restart_count
            self.restarting = False
            self.restart_count = 0
            return Decision("give_up", False, count)
        newports = self.random_ports_until_alive and self.initial_startup
        self.restarting = True
        return Decision("restart", newports, self.restart_count, self.delay(self.restart_count))

    def restarts_clean_exit(self) -> bool:
        """Whether an exit with code 0 is a death to restart (upstream: yes; on-failure: no)."""
        return self.restart_clean_exits

    def delay(self, count: int) -> float:
        """Seconds before restart number ``count`` of a streak (0 without backoff)."""
        if self.backoff <= 0:
            return 0.0
        base = min(self.backoff * 2.0 ** min(count - 1, 60), self.backoff_max)
        return base * self.rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
