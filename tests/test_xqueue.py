"""CrossQueue: filled in a trio run, read from trio, asyncio and threads without loss."""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest
import trio

from jupyter_client.actors.runtime import runtime_home
from jupyter_client.actors.xqueue import CrossQueue


def test_blocking_reader_gets_everything_in_order() -> None:
    q: CrossQueue[int] = CrossQueue()

    async def produce() -> None:
        for i in range(0, 5000, 50):
            q.put_many(range(i, i + 50))
            await trio.sleep(0)

    got: list[int] = []

    def consume() -> None:
        while len(got) < 5000:
            got.append(q.get_blocking(timeout=10))

    t = threading.Thread(target=consume)
    t.start()
    runtime_home().call_blocking(produce)
    t.join(20)
    assert got == list(range(5000))


def test_blocking_timeout_and_close() -> None:
    q: CrossQueue[int] = CrossQueue()
    with pytest.raises(queue.Empty):
        q.get_blocking(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    q.put(1)
    q.close(ConnectionError("kernel died"))
    assert q.get_blocking(timeout=1) == 1  # queued items still delivered first
    with pytest.raises(ConnectionError, match="kernel died"):
        q.get_blocking(timeout=1)


def test_close_wakes_a_waiting_thread() -> None:
    q: CrossQueue[int] = CrossQueue()
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            q.get_blocking(timeout=10)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=consume)
    t.start()
    q.close(EOFError("closed"))
    t.join(5)
    assert not t.is_alive() and isinstance(errors[0], EOFError)


def test_asyncio_reader_while_runtime_produces() -> None:
    q: CrossQueue[int] = CrossQueue()

    async def produce() -> None:
        for i in range(1000):
            q.put(i)
            if i % 10 == 0:
                await trio.sleep(0.001)

    async def main() -> list[int]:
        runtime_home().spawn(produce)
        got = [await q.get(timeout=10) for _ in range(1000)]
        with pytest.raises(queue.Empty):
            await q.get(timeout=0.01)
        assert not await q.wait_ready(0.01)
        q.put(7)
        assert await q.wait_ready(1)
        assert await q.get(0) == 7
        return got

    assert asyncio.run(asyncio.wait_for(main(), 20)) == list(range(1000))


def test_trio_reader_same_run() -> None:
    q: CrossQueue[int] = CrossQueue()

    async def main() -> None:
        async with trio.open_nursery() as n:

            async def produce() -> None:
                for i in range(100):
                    q.put(i)
                    await trio.sleep(0)

            n.start_soon(produce)
            with trio.fail_after(5):
                got = [await q.get() for _ in range(100)]
        assert got == list(range(100))
        with pytest.raises(queue.Empty):
            await q.get(timeout=0)

    trio.run(main)


def test_trio_reader_in_another_run_woken_from_runtime() -> None:
    q: CrossQueue[str] = CrossQueue()

    async def later() -> None:
        await trio.sleep(0.05)
        q.put("hello")

    async def main() -> str:
        runtime_home().spawn(later)
        with trio.fail_after(5):
            return await q.get()

    assert trio.run(main) == "hello"


def test_cancelled_trio_get_takes_nothing() -> None:
    q: CrossQueue[int] = CrossQueue()

    async def main() -> None:
        q.put(1)
        with trio.CancelScope() as scope:
            scope.cancel()
            await q.get()
        assert len(q) == 1  # the cancelled get left the item
        assert await q.get(timeout=1) == 1

    trio.run(main)
