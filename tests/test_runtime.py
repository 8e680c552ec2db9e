"""The actor homes: one actor function reached from blocking, asyncio and trio code."""

from __future__ import annotations

import asyncio
import threading

import pytest
import trio

from jupyter_client.actors.runtime import (
    RUNTIME_THREAD_NAME,
    current_run_home,
    home_for_caller,
    runtime_home,
)


async def where_am_i(x: int) -> tuple[str, int]:
    await trio.sleep(0)
    return threading.current_thread().name, x * 2


async def boom() -> None:
    await trio.sleep(0)
    raise KeyError("from trio")


def test_blocking_call_runs_in_runtime_thread() -> None:
    home = runtime_home()
    name, value = home.call_blocking(where_am_i, 21)
    assert name == RUNTIME_THREAD_NAME
    assert value == 42
    with pytest.raises(KeyError, match="from trio"):
        home.call_blocking(boom)


def test_asyncio_call_does_not_block_the_loop() -> None:
    async def main() -> None:
        home = runtime_home()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        t = asyncio.create_task(ticker())

        async def slow() -> str:
            await trio.sleep(0.1)
            return "done"

        assert await home.call(slow) == "done"
        t.cancel()
        assert ticks > 5  # the asyncio loop kept running while trio worked
        with pytest.raises(KeyError):
            await home.call(boom)

    asyncio.run(asyncio.wait_for(main(), 10))


def test_asyncio_cancellation_cancels_trio_side() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(runtime_home().call(forever), 0.05)

    asyncio.run(main())
    assert cancelled.wait(5)


def test_trio_home_is_the_callers_run() -> None:
    async def main() -> None:
        home = home_for_caller()
        assert home is current_run_home()
        assert home.is_current()
        assert await home.call(where_am_i, 1) == (threading.current_thread().name, 2)
        done = trio.Event()

        async def actor() -> None:
            done.set()

        home.spawn(actor)
        with trio.fail_after(5):
            await done.wait()

    trio.run(main)


def test_failing_actor_in_trio_home_does_not_crash_the_run(caplog) -> None:
    async def main() -> None:
        home = current_run_home()
        home.spawn(boom, name="boom-actor")
        await trio.sleep(0.05)

    trio.run(main)
    assert "boom-actor" in caplog.text


def test_blocking_call_from_home_thread_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="async API"):
            current_run_home().call_blocking(where_am_i, 1)

    trio.run(main)


def test_runtime_thread_stops_cleanly_at_interpreter_exit(tmp_path) -> None:
    """A program that used blocking handles and never stopped them still exits promptly."""
    import subprocess
    import sys

    script = tmp_path / "prog.py"
    script.write_text(
        "from jupyter_client import BlockingKernelClient\n"
        "kc = BlockingKernelClient()\n"
        "kc.start_channels()  # nothing listens: the actors just wait\n"
        "print('started', flush=True)\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "started"
    assert "Traceback" not in out.stderr
