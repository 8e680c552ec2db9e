"""The vocabulary of :mod:`~jupyter_client.supervisor.lifecycle`: its events and actions.

Plain frozen dataclasses, one per thing that can happen to a kernel (events, fed to
:meth:`KernelLifecycle.handle`) and one per thing the driver can be asked to do (actions,
returned by it). Times are the driver's clock (``trio.current_time()`` in the kernel actor);
process numbers are the lifecycle's own (``Launch.n``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jupyter_client.supervisor.kernel_types import KernelState

__all__ = [
    "TRANSITIONS",
    "mermaid",
    "Action",
    "Adopt",
    "AdoptProcess",
    "AwaitRelease",
    "Closing",
    "Control",
    "Death",
    "Defer",
    "Delegate",
    "DelegateFailed",
    "Emit",
    "Event",
    "ExitSeen",
    "Fail",
    "FirstBeat",
    "Handover",
    "Interrupt",
    "KillTree",
    "Launch",
    "LaunchFailed",
    "Launched",
    "Log",
    "MissedBeats",
    "PortsProbed",
    "ProbePorts",
    "RelaunchRequest",
    "Release",
    "Released",
    "Restart",
    "Signal",
    "SignalCmd",
    "Snapshot",
    "Start",
    "StartupTimeout",
    "Terminate",
    "Stop",
    "Timer",
    "TimerFired",
    "WaitDone",
    "WaitExit",
    "WaitRetiring",
]


@dataclass
class RelaunchRequest:
    """What the lifecycle asks a delegate (the façade's restarter) to do after a death:
    restart number ``count``, with fresh ports if ``newports``; ``held`` names the channels
    whose port another process holds now (``{"shell": 61234}``), which must be replaced
    whatever ``newports`` says."""

    count: int
    newports: bool
    held: dict[str, int] = field(default_factory=dict)


# -- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    """A command event's ``gone``: the driver sees the current process has exited although
    no :class:`ExitSeen` told the lifecycle yet (the watcher has not run)."""

    at: float
    gone: bool = False


@dataclass(frozen=True)
class Adopt:
    """Take over a running process we did not spawn (a previous supervisor's kernel)."""

    at: float
    gone: bool = False


@dataclass(frozen=True)
class Stop:
    """``bound``: the driver found every port of the current process held just now (only
    asked for a restart; supervisor/handover.py). ``requested``: ``shutdown_request`` was
    sent already (by the façade, before a third-party provisioner's ``shutdown_requested``)."""

    at: float
    now: bool = False
    restart: bool = False
    interrupt: bool = False
    bound: bool = False
    gone: bool = False
    requested: bool = False


@dataclass(frozen=True)
class Restart:
    at: float
    now: bool = False
    newports: bool = False
    bound: bool = False
    gone: bool = False


@dataclass(frozen=True)
class Interrupt:
    at: float
    gone: bool = False


@dataclass(frozen=True)
class SignalCmd:
    at: float
    signum: int
    gone: bool = False


@dataclass(frozen=True)
class Launched:
    """Process ``n`` exists (and registered, if the kernel chooses its own ports);
    ``started_at`` is when its spawn began."""

    n: int
    started_at: float
    detail: str = ""
    adopted: bool = False


@dataclass(frozen=True)
class LaunchFailed:
    n: int
    at: float
    detail: str
    message: str


@dataclass(frozen=True)
class ExitSeen:
    """A watcher saw process ``n`` exit (any reason, ours or not); ``exit`` is opaque here."""

    n: int
    at: float
    exit: Any = None


@dataclass(frozen=True)
class Death:
    """The deferred handling of an unexpected exit, run between commands."""

    n: int
    at: float


@dataclass(frozen=True)
class PortsProbed:
    n: int
    at: float
    held: dict[str, int]


@dataclass(frozen=True)
class WaitDone:
    """Outcome of :class:`WaitExit`: ``exited`` False means the deadline passed first."""

    n: int
    at: float
    exited: bool


@dataclass(frozen=True)
class Released:
    """Outcome of :class:`AwaitRelease`: ``released`` False when the process exited first,
    the deadline passed, or the transport cannot be probed."""

    n: int
    at: float
    released: bool


@dataclass(frozen=True)
class FirstBeat:
    n: int


@dataclass(frozen=True)
class MissedBeats:
    n: int
    count: int


@dataclass(frozen=True)
class StartupTimeout:
    n: int
    timeout: float


@dataclass(frozen=True)
class DelegateFailed:
    """The delegate could not carry out the pending relaunch (raised, or reported later)."""

    at: float


@dataclass(frozen=True)
class TimerFired:
    """The :class:`Timer` ``token`` ran out (a backoff delay is over)."""

    token: int
    at: float


@dataclass(frozen=True)
class Closing:
    """The driver is going away: its processes go with it."""


Event = (
    Start | Adopt | Stop | Restart | Interrupt | SignalCmd | Launched | LaunchFailed | ExitSeen
    | Death | PortsProbed | WaitDone | Released | FirstBeat | MissedBeats | StartupTimeout
    | DelegateFailed | TimerFired | Closing
)  # fmt: skip


# -- actions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """Prepare and spawn process ``n`` (outcome: :class:`Launched` or :class:`LaunchFailed`)."""

    n: int
    newports: bool


@dataclass(frozen=True)
class AdoptProcess:
    """Take over the process the adopt command named, as ``n`` (outcome: :class:`Launched`
    with ``adopted``)."""

    n: int


@dataclass(frozen=True)
class Signal:
    n: int
    signum: int


@dataclass(frozen=True)
class Terminate:
    """SIGTERM to ``n``'s group, with SIGCONT (a stopped process cannot act on SIGTERM)."""

    n: int


@dataclass(frozen=True)
class Control:
    """Send a message on process ``n``'s control channel."""

    n: int
    msg_type: str
    content: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    """Record ``n``'s descendants now, so they die with it even in their own session."""

    n: int


@dataclass(frozen=True)
class KillTree:
    n: int


@dataclass(frozen=True)
class WaitExit:
    """Wait for ``n``'s exit until ``deadline`` (outcome: :class:`WaitDone`)."""

    n: int
    deadline: float


@dataclass(frozen=True)
class AwaitRelease:
    """Wait until ``n`` has closed its ports, it exits, or ``deadline`` (outcome:
    :class:`Released`)."""

    n: int
    deadline: float


@dataclass(frozen=True)
class ProbePorts:
    """Which ports of ``n`` another process holds now (outcome: :class:`PortsProbed`)."""

    n: int


@dataclass(frozen=True)
class Release:
    """Reap ``n`` and close its helpers (kill what is left of its tree first)."""

    n: int


@dataclass(frozen=True)
class Handover:
    """Go on with ``n``'s escalation in the background: perform ``actions`` there and feed
    their outcomes back; the command that started it returns now."""

    n: int
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class WaitRetiring:
    """Wait until every handed-over process has been released."""


@dataclass(frozen=True)
class Timer:
    """At ``deadline``, feed :class:`TimerFired` ``token`` (in the background: commands go on
    meanwhile; a timer the lifecycle no longer wants is ignored when it fires)."""

    token: int
    deadline: float


@dataclass(frozen=True)
class Delegate:
    """Hand the relaunch to the delegate (failure: :class:`DelegateFailed`)."""

    request: RelaunchRequest


@dataclass(frozen=True)
class Emit:
    """A lifecycle event; ``n`` names the process (for its pid, and with ``with_exit`` its exit
    status)."""

    kind: str
    n: int | None = None
    detail: str = ""
    with_exit: bool = False


@dataclass(frozen=True)
class Log:
    """A log line about the kernel: the driver prefixes ``kernel <id>`` (and ``(pid <pid>)`` of
    process ``n``), so ``message`` starts with what follows (``": restart failed"``)."""

    level: int
    message: str
    n: int | None = None


@dataclass(frozen=True)
class Defer:
    """Queue ``event`` behind the running command (the driver's mailbox)."""

    event: Event


@dataclass(frozen=True)
class Fail:
    """The command fails with :class:`KernelStartError` and this message."""

    message: str


Action = (
    Launch | AdoptProcess | Signal | Terminate | Control | Snapshot | KillTree | WaitExit
    | AwaitRelease | ProbePorts | Release | Handover | WaitRetiring | Timer | Delegate | Emit
    | Log | Defer | Fail
)  # fmt: skip


# -- states ---------------------------------------------------------------------------------
_S = KernelState
#: Every change of ``state`` the lifecycle makes: (from, to, why).
TRANSITIONS: tuple[tuple[KernelState, KernelState, str], ...] = (
    (_S.STOPPED, _S.STARTING, "start"),
    (_S.DEAD, _S.STARTING, "start"),
    (_S.RUNNING, _S.STARTING, "start (its death not handled yet)"),
    (_S.RESTARTING, _S.STARTING, "start (a delegated relaunch)"),
    (_S.STARTING, _S.RUNNING, "launched"),
    (_S.STARTING, _S.DEAD, "launch failed"),
    (_S.RUNNING, _S.STOPPED, "stop"),
    (_S.RESTARTING, _S.STOPPED, "stop"),
    (_S.DEAD, _S.STOPPED, "stop"),
    (_S.RUNNING, _S.RESTARTING, "restart, or a death the policy restarts"),
    (_S.STOPPED, _S.RESTARTING, "restart"),
    (_S.DEAD, _S.RESTARTING, "restart"),
    (_S.RESTARTING, _S.RUNNING, "relaunched"),
    (_S.RESTARTING, _S.DEAD, "relaunch failed, or the policy gives up"),
    (_S.RUNNING, _S.DEAD, "death: the policy gives up, or no policy"),
    (_S.RUNNING, _S.BACKOFF, "a death the policy restarts after a delay"),
    (_S.RESTARTING, _S.BACKOFF, "relaunch failed: retry after a delay"),
    (_S.BACKOFF, _S.RESTARTING, "delay over, or restart"),
    (_S.BACKOFF, _S.STARTING, "start"),
    (_S.BACKOFF, _S.STOPPED, "stop"),
    (_S.RUNNING, _S.EXITED, "clean exit, not restarted (on-failure)"),
    (_S.EXITED, _S.STARTING, "start"),
    (_S.EXITED, _S.RESTARTING, "restart"),
    (_S.EXITED, _S.STOPPED, "stop"),
)


def mermaid() -> str:
    """:data:`TRANSITIONS` as a mermaid state diagram (docs/architecture.md holds a copy that
    a test compares with this)."""
    lines = ["stateDiagram-v2", "    [*] --> STOPPED"]
    lines += [f"    {a.name} --> {b.name}: {why}" for a, b, why in TRANSITIONS]
    return "\n".join(lines) + "\n"
