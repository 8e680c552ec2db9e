"""The JEP 65 ``iopub_welcome`` (protocol 5.5) in our clients, against real kernel processes.

``tests/kernels/minimal_kernel.py --xpub`` welcomes each new subscription as ipykernel >= 7.2
does; without the flag it is a plain PUB kernel (no welcome: the fallback paths). Client-level
scenarios run three ways (blocking, asyncio, trio); the restart scenarios drive
:class:`KernelChannels` directly under trio, relaunching the kernel on the same ports.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from kernel_helpers import KernelProcess, make_session, write_connection_info

from jupyter_client import AsyncKernelClient, BlockingKernelClient
from jupyter_client.actors.client import KernelChannels
from jupyter_client.actors.iopub import Link
from jupyter_client.client import KernelClient, drive

MINIMAL_KERNEL = str(Path(__file__).with_name("kernels") / "minimal_kernel.py")
STYLES = ["blocking", "asyncio", "trio"]
Scenario = Callable[[Any], Awaitable[None]]


class Kernel:
    """A minimal kernel on a fixed connection file that can be relaunched on the same ports."""

    def __init__(self, *flags: str) -> None:
        self.flags = flags
        self.directory = Path(tempfile.mkdtemp(prefix="jc-test-welcome-"))
        self.connection_file, self.info = write_connection_info(self.directory)
        self.log_file = self.directory / "kernel.log"
        self.process: KernelProcess | None = None

    def launch(self, *extra: str) -> None:
        argv = [sys.executable, MINIMAL_KERNEL, "-f", str(self.connection_file)]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                [*argv, *self.flags, *extra],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.process = KernelProcess(proc, self.info, self.connection_file, self.log_file)

    def kill(self) -> None:
        if self.process is not None and self.process.proc.poll() is None:
            self.process.proc.kill()
            self.process.proc.wait(10)

    def close(self) -> None:
        self.kill()
        if self.process is not None:
            self.process.stop()  # removes the files and the directory


@contextmanager
def minimal_kernel(*flags: str) -> Iterator[Kernel]:
    kernel = Kernel(*flags)
    kernel.launch()
    try:
        yield kernel
    finally:
        kernel.close()


async def aw(value: Any) -> Any:
    return (await value) if inspect.isawaitable(value) else value


def run_styles(style: str, kernel: Kernel, scenario: Scenario, timeout: float = 60) -> None:
    """Run ``scenario(kc)`` on a started client of ``style`` (no wait_for_ready: its part)."""
    cf = str(kernel.connection_file)
    if style == "blocking":
        kc: KernelClient = BlockingKernelClient(connection_file=cf)
        kc.load_connection_file()
        kc.start_channels()
        try:
            drive(scenario(kc))
        finally:
            kc.stop_channels()
        return

    async def main() -> None:
        akc = AsyncKernelClient(connection_file=cf)
        akc.load_connection_file()
        async with akc:
            await scenario(akc)

    if style == "asyncio":

        async def bounded() -> None:
            await asyncio.wait_for(main(), timeout)

        asyncio.run(bounded())
    else:

        async def bounded_trio() -> None:
            with trio.fail_after(timeout):
                await main()

        trio.run(bounded_trio)


def _kind(msg: dict[str, Any]) -> str:
    if msg["msg_type"] == "status":
        return str(msg["content"]["execution_state"])
    return str(msg["msg_type"])


# -- wait_for_ready -------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
def test_welcome_proves_the_subscription_when_iopub_lags(style: str) -> None:
    """The kernel publishes each ``idle`` 0.6 s after its reply: longer than the probe window
    (0.25 s), so a client guessing from the window retries forever. The welcome proves the
    subscription, after which the idle is awaited without a window."""
    with minimal_kernel("--xpub", "--idle-delay", "0.6") as kernel:

        async def scenario(kc: Any) -> None:
            await aw(kc.wait_for_ready(timeout=20))
            iopub = kc._channels.iopub
            assert iopub.welcoming and iopub.proven
            # Nothing of wait_for_ready's own requests is left for the caller.
            assert await aw(kc.iopub_channel.get_msgs()) == []
            assert await aw(kc.shell_channel.get_msgs()) == []

        run_styles(style, kernel, scenario)


def test_without_welcome_the_window_fallback_stays() -> None:
    """A kernel without the welcome keeps the window guess: a lagging IOPub (longer than the
    window) is never proven, and wait_for_ready gives up at its timeout with a clear error."""
    with minimal_kernel("--idle-delay", "0.6") as kernel:

        async def scenario(kc: Any) -> None:
            with pytest.raises(RuntimeError, match="didn't respond in 3 seconds"):
                await aw(kc.wait_for_ready(timeout=3))
            assert not kc._channels.iopub.welcoming

        run_styles("blocking", kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("xpub", [True, False], ids=["welcome", "no-welcome"])
def test_ready_keeps_other_messages_in_order(style: str, xpub: bool) -> None:
    """Two cells sent before a second wait_for_ready: all their messages stay queued, in
    order, with nothing of wait_for_ready's requests (or the welcome) among them."""
    flags = ["--iopub-output"] + (["--xpub"] if xpub else [])
    with minimal_kernel(*flags) as kernel:

        async def scenario(kc: Any) -> None:
            await aw(kc.wait_for_ready(timeout=20))
            assert kc._channels.iopub.welcoming is xpub
            ids = [kc.execute("print('one')"), kc.execute("print('two')")]
            await aw(kc.wait_for_ready(timeout=20))
            seen = []
            while len(seen) < 8:
                msg = await aw(kc.get_iopub_msg(timeout=10))
                seen.append((msg["parent_header"].get("msg_id"), _kind(msg)))
            expected = [(i, k) for i in ids for k in ("busy", "execute_input", "stream", "idle")]
            assert seen == expected
            replies = [await aw(kc.get_shell_msg(timeout=10)) for _ in ids]
            assert [r["parent_header"]["msg_id"] for r in replies] == ids
            assert await aw(kc.iopub_channel.get_msgs()) == []
            assert await aw(kc.shell_channel.get_msgs()) == []

        run_styles(style, kernel, scenario)


def test_ipykernel_welcomes() -> None:
    """ipykernel 7.4 (the kernelspec ``python3``) implements JEP 65: our client sees it."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        assert kc._channels.iopub.welcoming
        assert kc._channels.iopub.proven
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# -- holding requests across a restart (KernelChannels under trio) ---------------------------


async def _open(kernel: Kernel, nursery: trio.Nursery) -> KernelChannels:
    session = make_session(kernel.info)
    channels = KernelChannels(session, dict(kernel.info), identity=session.bsession)
    await nursery.start(channels.run)
    return channels


async def _cell(channels: KernelChannels, code: str) -> tuple[str, list[str]]:
    """Post an execute (as the façade does) and return its IOPub kinds up to idle."""
    msg = channels.session.msg("execute_request", {"code": code, "silent": False})
    msg_id = msg["header"]["msg_id"]
    channels.post("shell", channels.session.serialize(msg))
    return msg_id, await _kinds_until_idle(channels, msg_id)


async def _kinds_until_idle(channels: KernelChannels, msg_id: str) -> list[str]:
    assert channels.iopub is not None and channels.iopub.queue is not None
    kinds: list[str] = []
    while not kinds or kinds[-1] != "idle":
        msg = await channels.iopub.queue.get(10)
        if msg["parent_header"].get("msg_id") == msg_id:
            kinds.append(_kind(msg))
    return kinds


async def _subscribed(channels: KernelChannels) -> None:
    """Nudge with kernel_info until IOPub speaks (the first connection is not held)."""
    iopub = channels.iopub
    assert iopub is not None
    while iopub.received.value == 0:
        await channels.requests["shell"].request(channels.session.msg("kernel_info_request"))
        with trio.move_on_after(0.5):
            await iopub.received.wait_value(lambda n: n > 0)


@pytest.mark.parametrize("xpub", [True, False], ids=["welcome", "probe"])
def test_requests_held_until_the_new_subscription_is_proven(xpub: bool) -> None:
    flags = ["--iopub-output"] + (["--xpub"] if xpub else [])
    with minimal_kernel(*flags) as kernel:

        async def main() -> None:
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    channels = await _open(kernel, nursery)
                    iopub = channels.iopub
                    assert iopub is not None
                    shell_q = channels.requests["shell"].queue
                    iopub_q = iopub.queue
                    assert iopub_q is not None
                    await _subscribed(channels)
                    _, kinds = await _cell(channels, "print('first')")
                    assert kinds == ["busy", "execute_input", "stream", "idle"]
                    await shell_q.get(10)
                    welcomes = iopub.welcomes
                    if xpub:
                        assert iopub.proven

                    kernel.kill()
                    await iopub.link.wait_value(Link.LOST)
                    assert iopub.held
                    msg = channels.session.msg("execute_request", {"code": "print('held')"})
                    channels.post("shell", channels.session.serialize(msg))
                    assert len(channels.outboxes["shell"].frames) == 1  # held, not sent
                    kernel.launch()
                    kinds = await _kinds_until_idle(channels, msg["header"]["msg_id"])
                    assert kinds == ["busy", "execute_input", "stream", "idle"]
                    reply = await shell_q.get(10)
                    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
                    assert iopub.proven and not iopub.held
                    if xpub:
                        assert iopub.welcomes == welcomes + 1  # proven by the welcome
                        assert not iopub._probes
                    # Probes (if any) left no trace for the consumers.
                    assert shell_q.drain() == []
                    for m in iopub_q.drain():
                        assert m["parent_header"].get("msg_type") != "kernel_info_request"
                    channels.cancel()

        trio.run(main)


def test_unproven_reconnect_is_released_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """A new kernel that never answers (nor welcomes): the hold ends after ``proof_timeout``
    with a warning, and the held request is sent anyway."""
    with minimal_kernel() as kernel:

        async def main() -> None:
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    channels = await _open(kernel, nursery)
                    channels.proof_timeout = 0.5
                    iopub = channels.iopub
                    assert iopub is not None
                    await iopub.link.wait_value(Link.CONNECTED)
                    kernel.kill()
                    await iopub.link.wait_value(Link.LOST)
                    channels.post("shell", channels.session.serialize(
                        channels.session.msg("kernel_info_request")
                    ))  # fmt: skip
                    kernel.launch("--never-reply")
                    await iopub.link.wait_value(Link.RECONNECTED)
                    await iopub.link.wait_value(Link.CONNECTED)  # released, unproven
                    await trio.sleep(0.05)
                    assert not channels.outboxes["shell"].frames  # sent after the release
                    channels.cancel()

        with caplog.at_level(logging.WARNING, logger="jupyter_client.actors.client"):
            trio.run(main)
        assert "not proven within 0.5 s of reconnecting" in caplog.text


def test_kernel_that_never_returns_is_released_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with minimal_kernel() as kernel:

        async def main() -> None:
            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    channels = await _open(kernel, nursery)
                    channels.reconnect_timeout = 0.3
                    iopub = channels.iopub
                    assert iopub is not None
                    await iopub.link.wait_value(Link.CONNECTED)
                    kernel.kill()
                    await iopub.link.wait_value(Link.LOST)
                    await iopub.link.wait_value(Link.CONNECTED)
                    assert not iopub.held
                    channels.cancel()

        with caplog.at_level(logging.WARNING, logger="jupyter_client.actors.client"):
            trio.run(main)
        assert "lost and not back within 0.3 s" in caplog.text


# -- the actor's scan (no sockets: the decoding step's output, as the reader hands it over) ----


def _msg(msg_type: str, parent: str | None, state: str | None = None) -> dict[str, Any]:
    content = {"execution_state": state} if state else {}
    return {
        "msg_type": msg_type,
        "header": {"msg_type": msg_type},
        "parent_header": {"msg_id": parent} if parent else {},
        "content": content,
    }


def test_scan_hides_probes_keeps_the_rest_in_order() -> None:
    from jupyter_client.actors.iopub import IOPubActor

    actor = IOPubActor(None, None, None, watch_link=True)  # type: ignore[arg-type]
    actor.add_probe("p1")
    actor.add_probe("p2")
    u1, u2, u3 = _msg("stream", "u"), _msg("execute_input", "u"), _msg("status", "u", "idle")
    batch = [
        u1,
        _msg("status", "p1", "busy"),
        u2,
        _msg("status", "p1", "idle"),
        _msg("status", "p2", "busy"),
        u3,
    ]
    assert actor._scan(batch) == [u1, u2, u3]
    assert actor.proven
    assert list(actor._probes) == ["p2"]  # p1 is done; p2's idle is still to be hidden
    assert actor._scan([_msg("status", "p2", "idle")]) == []
    assert not actor._probes
    welcome = _msg("iopub_welcome", None)
    actor.expect_reconnect()
    assert actor.held
    assert actor._scan([welcome]) == [welcome]  # delivered (as upstream); proves the link
    assert actor.welcoming and actor.proven and not actor.held
