"""The kernel clients against a real ipykernel, each scenario run three ways.

A scenario is one ``async def`` written against the async API; ``aw()`` awaits a value only if
it is awaitable, so the same scenario drives a ``BlockingKernelClient`` (run by ``drive``: it
never suspends), and an ``AsyncKernelClient`` under ``asyncio.run`` and under ``trio.run``.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import trio
from kernel_helpers import SLEEP_CELL, KernelProcess, is_sleeping, running_kernel

from jupyter_client import AsyncKernelClient, BlockingKernelClient
from jupyter_client.client import KernelClient, drive

STYLES = ["blocking", "asyncio", "trio"]
Scenario = Callable[[Any], Awaitable[None]]


async def aw(value: Any) -> Any:
    return (await value) if inspect.isawaitable(value) else value


def run_scenario(
    style: str, kernel: KernelProcess, scenario: Scenario, timeout: float = 60, **traits: Any
) -> None:
    cf = str(kernel.connection_file)
    if style == "blocking":
        kc: KernelClient = BlockingKernelClient(connection_file=cf, **traits)
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=timeout)  # type: ignore[attr-defined]
            drive(scenario(kc))
        finally:
            kc.stop_channels()
        return

    async def main() -> None:
        akc = AsyncKernelClient(connection_file=cf, **traits)
        akc.load_connection_file()
        async with akc:
            await akc.wait_for_ready(timeout=timeout)
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


@pytest.fixture(scope="module")
def kernel(kernel_python: str) -> Iterator[KernelProcess]:
    with running_kernel(kernel_python) as k:
        yield k


@pytest.fixture(autouse=True)
def _module_kernel_is_not_a_leak(request: pytest.FixtureRequest) -> None:
    # The module-scoped kernel starts inside the first test's leak-check window; request it
    # before that window opens so its process and files belong to the module.
    if "kernel" in request.fixturenames:
        request.getfixturevalue("kernel")


async def collect_until_idle(kc: Any, msg_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    out = []
    while True:
        msg = await aw(kc.get_iopub_msg(timeout=timeout))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        out.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out


@pytest.mark.parametrize("style", STYLES)
def test_every_request_type(style: str, kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        info = await aw(kc.kernel_info(reply=True, timeout=10))
        assert info["msg_type"] == "kernel_info_reply"
        assert info["content"]["language_info"]["name"] == "python"
        r = await aw(kc.execute("abc_value = 41", reply=True, timeout=10))
        assert r["msg_type"] == "execute_reply" and r["content"]["status"] == "ok"
        r = await aw(kc.complete("abc_v", reply=True, timeout=10))
        assert "abc_value" in r["content"]["matches"]
        r = await aw(kc.inspect("abc_value", reply=True, timeout=10))
        assert r["msg_type"] == "inspect_reply" and r["content"]["found"]
        r = await aw(kc.history(reply=True, timeout=10, hist_access_type="tail", n=5))
        assert r["msg_type"] == "history_reply"
        r = await aw(kc.comm_info(reply=True, timeout=10))
        assert r["msg_type"] == "comm_info_reply" and r["content"]["status"] == "ok"
        msg_id = kc.is_complete("for i in range(3):")  # plain msg_id on both clients
        assert isinstance(msg_id, str)
        r = await aw(kc._recv_reply(msg_id, timeout=10))
        assert r["content"]["status"] == "incomplete"
        # upstream idiom: send, then read the shell channel
        msg_id = kc.execute("1")
        r = await aw(kc.get_shell_msg(timeout=10))
        assert r["parent_header"]["msg_id"] == msg_id
        await collect_until_idle(kc, msg_id)

    run_scenario(style, kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
def test_execute_outputs_and_errors(style: str, kernel: KernelProcess) -> None:
    code = (
        "import sys\n"
        "from IPython.display import display, HTML\n"
        "print('to stdout'); sys.stdout.flush()\n"
        "print('to stderr', file=sys.stderr); sys.stderr.flush()\n"
        "display(HTML('<b>hi</b>'))\n"
        "6 * 7\n"
    )

    async def scenario(kc: Any) -> None:
        msg_id = kc.execute(code)
        msgs = await collect_until_idle(kc, msg_id)
        types = [m["msg_type"] for m in msgs]
        assert types[0] == "status" and types[1] == "execute_input"
        streams: dict[str, str] = {}
        for m in msgs:  # ipykernel may split one print over two stream messages (its flush
            if m["msg_type"] == "stream":  # timer can fire between the text and the "\n")
                name = m["content"]["name"]
                streams[name] = streams.get(name, "") + m["content"]["text"]
        assert streams == {"stdout": "to stdout\n", "stderr": "to stderr\n"}
        display = next(m for m in msgs if m["msg_type"] == "display_data")
        assert display["content"]["data"]["text/html"] == "<b>hi</b>"
        result = next(m for m in msgs if m["msg_type"] == "execute_result")
        assert result["content"]["data"]["text/plain"] == "42"
        reply = await aw(kc._recv_reply(msg_id, timeout=10))
        assert reply["content"]["status"] == "ok"

        msg_id = kc.execute("raise ValueError('boom')")
        msgs = await collect_until_idle(kc, msg_id)
        err = next(m for m in msgs if m["msg_type"] == "error")
        assert err["content"]["ename"] == "ValueError" and err["content"]["evalue"] == "boom"
        reply = await aw(kc._recv_reply(msg_id, timeout=10))
        assert reply["content"]["status"] == "error"

    run_scenario(style, kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
def test_stdin_round_trip(style: str, kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        msg_id = kc.execute("answer = input('name? ')", allow_stdin=True)
        req = await aw(kc.get_stdin_msg(timeout=10))
        assert req["msg_type"] == "input_request" and req["content"]["prompt"] == "name? "
        assert kc.input("trio") is None
        reply = await aw(kc._recv_reply(msg_id, timeout=10))
        assert reply["content"]["status"] == "ok"
        await collect_until_idle(kc, msg_id)
        r = await aw(kc.execute("answer", reply=True, timeout=10, user_expressions={"a": "answer"}))
        assert r["content"]["user_expressions"]["a"]["data"]["text/plain"] == "'trio'"

    run_scenario(style, kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
def test_execute_interactive_hooks(style: str, kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        seen: list[str] = []
        asked: list[str] = []

        def output_hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                seen.append(msg["content"]["text"])

        def stdin_hook(msg: dict[str, Any]) -> None:
            asked.append(msg["content"]["prompt"])
            kc.input("typed")

        reply = await aw(
            kc.execute_interactive(
                "v = input('? '); print('got', v)",
                output_hook=output_hook,
                stdin_hook=stdin_hook,
                timeout=20,
            )
        )
        assert reply["content"]["status"] == "ok"
        assert asked == ["? "] and "".join(seen) == "got typed\n"
        with pytest.raises(TimeoutError):
            await aw(kc.execute_interactive("import time; time.sleep(1.0)", timeout=0.05))
        # the timed-out cell still finishes; drain it so later tests start clean
        await aw(kc.execute("pass", reply=True, timeout=10))

    run_scenario(style, kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
def test_interrupt_via_control(style: str, kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        msg_id = kc.execute(SLEEP_CELL)
        # Once, when inside user code (see SLEEP_CELL).
        while not is_sleeping(await aw(kc.get_iopub_msg(timeout=30)), msg_id):
            pass
        kc.control_channel.send(kc.session.msg("interrupt_request", {}))
        reply = await aw(kc._recv_reply(msg_id, timeout=30))
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        control_reply = await aw(kc.get_control_msg(timeout=10))
        assert control_reply["msg_type"] == "interrupt_reply"

    run_scenario(style, kernel, scenario)


@pytest.mark.parametrize("style", STYLES)
def test_iopub_ordering_under_load(style: str, kernel: KernelProcess) -> None:
    n = 10_000
    code = (
        f"import sys\nfor i in range({n}):\n    sys.stdout.write(f'{{i}}\\n'); sys.stdout.flush()\n"
    )

    async def scenario(kc: Any) -> None:
        msg_id = kc.execute(code)
        msgs = await collect_until_idle(kc, msg_id, timeout=60)
        text = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
        assert text.split() == [str(i) for i in range(n)]

    # Nothing may be lost here, so the reader's bound is off: with it (1000 messages, as
    # upstream's high-water mark) a reader starved of CPU on a loaded machine drops the oldest,
    # by design (tests/test_iopub_bound.py checks that part).
    run_scenario(style, kernel, scenario, timeout=120, iopub_max_queued=0)


@pytest.mark.parametrize("style", STYLES)
def test_subshells(style: str, kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        assert kc.supports_subshells  # ipykernel 7 advertises them
        created = await aw(kc.create_subshell(reply=True, timeout=10))
        sid = created["content"]["subshell_id"]
        listed = await aw(kc.list_subshell(reply=True, timeout=10))
        assert sid in listed["content"]["subshell_id"]
        r = await aw(kc.execute_in_subshell(sid, "sub_value = 5", reply=True, timeout=10))
        assert r["content"]["status"] == "ok"
        assert r["parent_header"]["subshell_id"] == sid
        await aw(kc.delete_subshell(sid, reply=True, timeout=10))
        listed = await aw(kc.list_subshell(reply=True, timeout=10))
        assert sid not in listed["content"]["subshell_id"]

    run_scenario(style, kernel, scenario)


def test_subshells_refused_clearly_when_unknown() -> None:
    kc = BlockingKernelClient()
    with pytest.raises(RuntimeError, match="unknown"):
        kc.create_subshell()
    kc._kernel_info = {"supported_features": []}
    with pytest.raises(RuntimeError, match="does not support subshells"):
        kc.create_subshell()


@pytest.mark.parametrize("style", STYLES)
def test_heartbeat_loss_when_kernel_is_stopped(style: str, kernel_python: str) -> None:
    with running_kernel(kernel_python) as k:

        async def scenario(kc: Any) -> None:
            assert await aw(kc.is_alive())
            # Deadlines, not beat counts: on a loaded CI machine a beat can take seconds.
            deadline = time.monotonic() + 30  # first a beat (silence before one is a start-up)
            while kc.hb_channel.heart.value != "beating" and time.monotonic() < deadline:
                await kc._sleep(0.05)
            k.pause()
            try:
                deadline = time.monotonic() + 30  # time_to_dead is 1 s
                while await aw(kc.is_alive()) and time.monotonic() < deadline:
                    await kc._sleep(0.05)
                assert not await aw(kc.is_alive())
            finally:
                k.resume()
            deadline = time.monotonic() + 30
            while not await aw(kc.is_alive()) and time.monotonic() < deadline:
                await kc._sleep(0.05)
            assert await aw(kc.is_alive())

        run_scenario(style, k, scenario)


def test_wait_for_ready_on_a_dead_kernel_raises_and_client_stays_clean(
    kernel_python: str, tmp_path: Any
) -> None:
    with running_kernel(kernel_python) as k:
        cf = str(k.connection_file)
        info = dict(k.info)
    # the kernel is gone now; its connection info is stale
    import json

    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(info))
    kc = BlockingKernelClient(connection_file=str(stale))
    kc.load_connection_file()
    kc.start_channels()
    try:
        # A kernel that never answered a heartbeat may be one still starting: the wait goes
        # on to its timeout (upstream declares it dead at its first missed ping, which also
        # kills the wait on a kernel that is merely slow to start)
        with pytest.raises(RuntimeError, match="Kernel didn't respond in 2 seconds"):
            kc.wait_for_ready(timeout=2)
        with pytest.raises(queue.Empty):
            kc.get_shell_msg(timeout=0.05)
    finally:
        kc.stop_channels()
    assert not kc.channels_running
    assert cf  # the kernel's own file was removed by running_kernel


def test_get_msg_timeouts_raise_queue_empty(kernel: KernelProcess) -> None:
    async def scenario(kc: Any) -> None:
        with pytest.raises(queue.Empty):
            await aw(kc.get_shell_msg(timeout=0.01))
        with pytest.raises(TimeoutError, match="Timeout waiting for reply"):
            await aw(kc._recv_reply("no-such-id", timeout=0.05))

    for style in STYLES:
        run_scenario(style, kernel, scenario)


def test_wait_for_ready_gives_a_slow_starting_kernel_its_time(tmp_path: Any) -> None:
    """A client with only a connection file, started before the kernel answers anything (it
    sleeps 2.5 s before binding): its first heartbeats go unanswered, and that is no death
    (CI saw ``jupyter kernel``'s ipykernel declared dead this way while it was starting)."""
    import subprocess
    import sys

    from kernels.support import MINIMAL_KERNEL, KernelFiles

    files = KernelFiles(tmp_path)
    files.write(False)
    proc = subprocess.Popen([sys.executable, MINIMAL_KERNEL, "-f", str(files.path),
                             "--slow-start", "2.5"])  # fmt: skip
    kc = BlockingKernelClient(connection_file=str(files.path))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
        assert kc.is_alive()
    finally:
        kc.stop_channels()
        proc.kill()
        proc.wait(10)
