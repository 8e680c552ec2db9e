"""RestartPolicy: upstream's KernelRestarter counting, event-driven.

The hypothesis test drives two things with the same kernel lifetimes: our policy fed with
events (alive at start, alive-then-dead at each death, restart at once), and a literal model of
upstream's ``KernelRestarter.poll`` called every ``T`` seconds. They must take the same
decisions, except for lifetimes within a poll period or two of ``stable_start_time`` (where
upstream's answer depends on when its polls happen to fall; see the policy's docstring).
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_client.supervisor.policy import Decision, RestartPolicy


class UpstreamModel:
    """Upstream's poll(), transcribed as a model (no callbacks, no I/O)."""

    def __init__(self, limit: int, stable: float, random_ports: bool = True) -> None:
        self.restart_limit = limit
        self.stable_start_time = stable
        self.random_ports_until_alive = random_ports
        self._restarting = False
        self._restart_count = 0
        self._initial_startup = True
        self._last_dead_value: float | None = None
        self.stopped = False

    def _last_dead(self, now: float) -> float:  # lazily initialised at first read
        if self._last_dead_value is None:
            self._last_dead_value = now
        return self._last_dead_value

    def poll(self, now: float, alive: bool) -> tuple[str, bool, int] | None:
        if not alive:
            self._last_dead_value = now
            self._restart_count = self._restart_count + 1 if self._restarting else 1
            if self._restart_count > self.restart_limit:
                count = self._restart_count
                self._restarting = False
                self._restart_count = 0
                self.stopped = True
                return ("give_up", False, count)
            newports = self.random_ports_until_alive and self._initial_startup
            self._restarting = True
            return ("restart", newports, self._restart_count)
        if self._initial_startup and now - self._last_dead(now) >= self.stable_start_time:
            self._initial_startup = False
        if self._restarting and now - self._last_dead(now) >= self.stable_start_time:
            self._restarting = False
        return None


def run_events(policy: RestartPolicy, lifetimes: list[float]) -> list[tuple[str, bool, int]]:
    """What KernelActor does: alive at start; at death alive-then-dead; restart at once."""
    out = []
    t = 0.0
    policy.on_alive(t)
    for d in lifetimes:
        t += d
        policy.on_alive(t)
        dec = policy.on_death(t)
        out.append((dec.kind, dec.newports, dec.count))
        if not dec.restart:
            break
        policy.on_alive(t)
    return out


def run_polls(model: UpstreamModel, lifetimes: list[float], period: float) -> list[tuple]:
    out = []
    k = 0
    start = 0.0
    for d in lifetimes:
        while True:
            k += 1
            now = k * period
            decision = model.poll(now, alive=now < start + d)
            if decision is not None:
                out.append(decision)
                start = now
                break
        if model.stopped:
            break
    return out


def test_exactly_limit_restarts_then_give_up() -> None:
    policy = RestartPolicy(restart_limit=3, stable_start_time=10)
    decisions = [policy.on_death(float(i)) for i in range(4)]
    assert [d.kind for d in decisions] == ["restart"] * 3 + ["give_up"]
    assert [d.count for d in decisions] == [1, 2, 3, 4]
    assert policy.restart_count == 0 and not policy.restarting  # reset after giving up
    assert policy.on_death(5.0) == Decision("restart", True, 1)  # a later start counts anew


def test_stable_kernel_resets_the_count_and_ends_initial_startup() -> None:
    policy = RestartPolicy(restart_limit=1, stable_start_time=2.0)
    policy.on_alive(0.0)
    assert policy.on_death(1.0) == Decision("restart", True, 1)  # not yet stable: new ports
    policy.on_alive(1.0)
    policy.on_alive(3.5)  # alive 2.5 s since the last death: stable
    assert not policy.restarting and not policy.initial_startup
    assert policy.on_death(3.5) == Decision("restart", False, 1)  # count reset, same ports
    assert policy.on_death(3.6) == Decision("give_up", False, 2)


def test_random_ports_off() -> None:
    policy = RestartPolicy(random_ports_until_alive=False)
    assert policy.on_death(0.0).newports is False


def test_on_alive_first_call_fixes_last_dead() -> None:
    policy = RestartPolicy(stable_start_time=1.0)
    assert policy.last_dead is None
    policy.on_alive(5.0)
    assert policy.last_dead == 5.0 and policy.initial_startup
    policy.on_alive(6.0)
    assert not policy.initial_startup


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(0, 6),
    stable_periods=st.sampled_from([1.5, 2.0, 3.0, 3.3, 10.0]),
    raw=st.lists(st.floats(0.0, 30.0, allow_nan=False), min_size=1, max_size=25),
)
def test_event_policy_matches_upstream_poll_model(
    limit: int, stable_periods: float, raw: list[float]
) -> None:
    period = 1.0
    stable = stable_periods * period
    grid_stable = math.ceil(stable / period) * period
    # Away from the window where upstream's answer depends on the poll phase.
    lifetimes = [d for d in raw if not (stable - 1e-9 <= d <= grid_stable + 2 * period + 1e-9)]
    if not lifetimes:
        return
    ours = run_events(RestartPolicy(restart_limit=limit, stable_start_time=stable), lifetimes)
    theirs = run_polls(UpstreamModel(limit, stable), lifetimes, period)
    assert ours == theirs
