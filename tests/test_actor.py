"""The actor base: commands, replies, crashes reaching the supervisor, stopping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from jupyter_client.actors.actor import (
    Actor,
    ActorCrashed,
    ActorError,
    ActorState,
    ActorStopped,
    CommandFailed,
    Reply,
)


class Counter(Actor):
    """A toy actor owning a 'resource' (a list of events) and a helper task."""

    def __init__(self) -> None:
        super().__init__("counter", mailbox_size=4)
        self.total = 0
        self.events: list[str] = []
        self.helper_error: BaseException | None = None

    @asynccontextmanager
    async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
        self.events.append("open")
        nursery.start_soon(self._helper)
        try:
            yield
        finally:
            self.events.append("close")

    async def _helper(self) -> None:
        await trio.sleep_forever()

    async def add(self, n: int) -> int:
        return await self.ask(self._add, n)

    async def _add(self, n: int) -> int:
        if n < 0:
            raise CommandFailed("negative")
        if n == 13:
            raise KeyError("unlucky")
        await trio.sleep(0)
        self.total += n
        return self.total

    async def _slow(self, seconds: float) -> str:
        await trio.sleep(seconds)
        return "slow done"


def run(fn: object) -> None:
    async def main() -> None:
        with trio.fail_after(10):
            await fn()  # type: ignore[operator]

    trio.run(main)


def test_reply_is_one_shot() -> None:
    async def main() -> None:
        r: Reply[int] = Reply()
        assert r.set(1) and not r.set(2) and not r.fail(ValueError())
        assert await r.wait() == 1
        e: Reply[int] = Reply()
        e.fail(KeyError("x"))
        with pytest.raises(KeyError):
            await e.wait()

    run(main)


def test_commands_run_in_order_and_reply() -> None:
    async def main() -> None:
        c = Counter()
        async with trio.open_nursery() as nursery:
            await nursery.start(c.run)
            assert c.state.value is ActorState.RUNNING and c.events == ["open"]
            results = []

            async def adder(n: int) -> None:
                results.append(await c.add(n))

            async with trio.open_nursery() as inner:
                for n in range(1, 11):
                    inner.start_soon(adder, n)
            assert sorted(results)[-1] == 55 and c.total == 55
            with pytest.raises(CommandFailed):
                await c.add(-1)
            assert c.running  # a failed command is not a crash
            await c.tell(c._add, 5)
            await c.stop()
        assert c.total == 60  # the told command ran before the stop
        assert c.state.value is ActorState.STOPPED and c.events == ["open", "close"]
        with pytest.raises(ActorStopped):
            await c.add(1)

    run(main)


def test_crash_reaches_supervisor_and_fails_pending() -> None:
    async def main() -> None:
        c = Counter()
        errors: list[BaseException] = []

        async def queued_caller() -> None:
            try:
                await c.ask(c._slow, 0)
            except ActorError as exc:
                errors.append(exc)

        with pytest.RaisesGroup(
            pytest.RaisesExc(KeyError, match="unlucky"), flatten_subgroups=True
        ):
            async with trio.open_nursery() as nursery:
                await nursery.start(c.run)
                async with trio.open_nursery() as callers:
                    callers.start_soon(queued_caller)
                    try:
                        await c.add(13)
                    except ActorCrashed as exc:
                        errors.append(exc)
        assert c.state.value is ActorState.CRASHED and isinstance(c.error, BaseException)
        assert c.events == ["open", "close"]  # resources released on a crash too
        assert any(isinstance(e, ActorCrashed) for e in errors)
        crashed = next(e for e in errors if isinstance(e, ActorCrashed))
        assert isinstance(crashed.__cause__, KeyError)

    run(main)


def test_queued_commands_fail_when_actor_is_cancelled() -> None:
    async def main() -> None:
        c = Counter()
        outcomes: list[object] = []

        async def call(seconds: float) -> None:
            try:
                outcomes.append(await c.ask(c._slow, seconds))
            except ActorStopped as exc:
                outcomes.append(exc)

        async with trio.open_nursery() as nursery:
            await nursery.start(c.run)
            async with trio.open_nursery() as callers:
                for _ in range(3):
                    callers.start_soon(call, 5)
                await trio.sleep(0.05)
                c.cancel()
        assert len(outcomes) == 3 and all(isinstance(o, ActorStopped) for o in outcomes)
        assert c.state.value is ActorState.STOPPED
        assert c.events == ["open", "close"]

    run(main)


def test_abandoned_command_is_skipped() -> None:
    async def main() -> None:
        c = Counter()
        async with trio.open_nursery() as nursery:
            await nursery.start(c.run)
            async with trio.open_nursery() as callers:
                callers.start_soon(c.ask, c._slow, 0.1)  # busy the actor
                await trio.sleep(0.01)
                with trio.move_on_after(0.01):
                    await c.add(100)  # queued, then abandoned before it runs
            assert c.total == 0
            assert await c.add(1) == 1
            await c.stop()

    run(main)


def test_ask_before_start_and_lifetime_failure() -> None:
    class Broken(Actor):
        @asynccontextmanager
        async def lifetime(self, nursery: trio.Nursery) -> AsyncIterator[None]:
            raise OSError("cannot open")
            yield

    async def main() -> None:
        c = Counter()
        with pytest.raises(ActorStopped):
            await c.add(1)
        b = Broken("broken")
        with pytest.RaisesGroup(
            pytest.RaisesExc(OSError, match="cannot open"), flatten_subgroups=True
        ):
            async with trio.open_nursery() as nursery:
                await nursery.start(b.run)
        assert b.state.value is ActorState.CRASHED
        with pytest.raises(RuntimeError):
            await b.run()

    run(main)


def test_state_is_observable() -> None:
    async def main() -> None:
        c = Counter()
        seen: list[ActorState] = []

        async def watch() -> None:
            async for state in c.state.eventual_values():
                seen.append(state)
                if state is ActorState.STOPPED:
                    return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(0)
            await nursery.start(c.run)
            await c.add(1)
            await c.stop()
        assert seen[0] is ActorState.NEW and seen[-1] is ActorState.STOPPED
        assert ActorState.RUNNING in seen

    run(main)


def test_handler_asking_its_own_actor_is_refused() -> None:
    async def main() -> None:
        c = Counter()

        async def reentrant() -> int:
            return await c.add(1)

        async with trio.open_nursery() as nursery:
            await nursery.start(c.run)
            with pytest.raises(ActorCrashed) as info:
                await c.ask(reentrant)
            assert isinstance(info.value.__cause__, RuntimeError)
            nursery.cancel_scope.cancel()

    with pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
        run(main)
