"""The heartbeat actor against a real ipykernel (SIGSTOP/SIGCONT) and a silent fake peer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import zmq
from kernel_helpers import running_kernel

from jupyter_client.actors.heartbeat import Heart, HeartbeatActor
from jupyter_client.actors.wire import channel_url
from jupyter_client.actors.zsocket import ZContext

TTD = 0.5


def run(fn: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    async def main() -> None:
        with trio.fail_after(timeout):
            await fn()

    trio.run(main)


def test_beats_stops_when_kernel_is_stopped_and_recovers(kernel_python: str) -> None:
    with running_kernel(kernel_python) as kernel:

        async def main() -> None:
            stopped_reports: list[float] = []
            async with ZContext() as ctx, trio.open_nursery() as nursery:
                hb = HeartbeatActor(
                    ctx,
                    channel_url(kernel.info, "hb"),
                    time_to_dead=TTD,
                    on_heart_stopped=stopped_reports.append,
                )
                await nursery.start(hb.run)
                with trio.fail_after(30):  # the kernel is still starting
                    await hb.wait_beating()
                assert hb.is_beating() and hb.missed_beats.value == 0
                stopped_reports.clear()  # misses while the kernel started do not count

                kernel.pause()
                try:
                    # Noticed within about two periods (the rest of this one plus one
                    # unanswered ping); the bound is generous for loaded machines.
                    with trio.fail_after(6 * TTD):
                        await hb.wait_heart_stopped()
                    assert not hb.is_beating()
                    assert hb.missed_beats.value >= 1
                    await hb.missed_beats.wait_value(lambda n: n >= 2)  # keeps reporting
                    assert len(stopped_reports) >= 2
                    assert stopped_reports[-1] > stopped_reports[0] >= TTD * 0.9
                finally:
                    kernel.resume()
                with trio.fail_after(10 * TTD):
                    await hb.wait_beating()
                assert hb.missed_beats.value == 0
                await hb.stop()

        run(main)


def test_pause_stops_pinging(kernel_python: str) -> None:
    with running_kernel(kernel_python) as kernel:

        async def main() -> None:
            async with ZContext() as ctx, trio.open_nursery() as nursery:
                hb = HeartbeatActor(ctx, channel_url(kernel.info, "hb"), time_to_dead=TTD)
                await nursery.start(hb.run)
                with trio.fail_after(30):
                    await hb.wait_beating()
                await hb.pause()
                assert hb.heart.value is Heart.PAUSED and not hb.is_beating()
                kernel.pause()
                try:
                    await trio.sleep(3 * TTD)
                    assert hb.heart.value is Heart.PAUSED and hb.missed_beats.value == 0
                finally:
                    kernel.resume()
                await hb.unpause()
                with trio.fail_after(10 * TTD):
                    await hb.wait_beating()
                hb.cancel()

        run(main)


def test_silent_peer_and_reconnect() -> None:
    """A peer that never answers is a stopped heart; reconnecting to an echo restores it."""

    async def main() -> None:
        async with ZContext() as ctx, trio.open_nursery() as nursery:
            silent = ctx.socket(zmq.ROUTER)
            silent_url = silent.bind("tcp://127.0.0.1:*")
            echo = ctx.socket(zmq.ROUTER)
            echo_url = echo.bind("tcp://127.0.0.1:*")

            async def echo_server() -> None:
                try:
                    while True:
                        await echo.send_multipart(await echo.recv_multipart())
                except trio.ClosedResourceError:
                    return

            nursery.start_soon(echo_server)
            hb = HeartbeatActor(ctx, silent_url, time_to_dead=0.2)
            await nursery.start(hb.run)
            await hb.wait_heart_stopped()
            assert hb.heart.value is Heart.MISSED
            await hb.reconnect(echo_url)
            await hb.wait_beating()
            assert hb.url == echo_url
            await hb.stop()
            silent.close()
            echo.close()

    run(main, timeout=20)


def test_looks_alive_is_optimistic_only_until_the_start_up_grace_ends() -> None:
    """A peer that never answers: upstream's optimistic reading (True before any answer),
    kept through missed pings while the kernel may still be starting, False after the grace;
    and False at once while paused."""

    async def main() -> None:
        async with ZContext() as ctx, trio.open_nursery() as nursery:
            zctx = zmq.Context()
            silent = zctx.socket(zmq.ROUTER)  # bound, never read: pings go unanswered
            silent.bind("tcp://127.0.0.1:*")
            url = silent.getsockopt_string(zmq.LAST_ENDPOINT)
            hb = HeartbeatActor(ctx, url, time_to_dead=0.1)
            hb.startup_grace = 1.0
            assert hb.looks_alive() and not hb.is_beating()
            await nursery.start(hb.run)
            await hb.missed_beats.wait_value(lambda n: n >= 2)
            assert hb.looks_alive() and hb.heart.value is Heart.MISSED  # may still be starting
            with trio.fail_after(5):
                while hb.looks_alive():
                    await trio.sleep(0.05)
            hb.set_paused(True)
            assert not hb.looks_alive()
            await hb.stop()
            silent.close(0)
            zctx.term()

    run(main)
