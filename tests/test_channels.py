"""Channel actors against a real ipykernel, and against fake peers sending bad frames."""

from __future__ import annotations

import logging
import queue
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import trio
import zmq
from kernel_helpers import KernelProcess, kernel_channels, make_session, running_kernel

from jupyter_client.actors.channels import ChannelActor, ChannelClosed
from jupyter_client.actors.iopub import IOPubActor, next_batch
from jupyter_client.actors.wire import Msg
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.protocol.session import SessionCore


@pytest.fixture(scope="module")
def kernel(kernel_python: str) -> Iterator[KernelProcess]:
    with running_kernel(kernel_python) as k:
        yield k


def run(fn: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    async def main() -> None:
        with trio.fail_after(timeout):
            await fn()

    trio.run(main)


def execute_msg(session: SessionCore, code: str, **kw: Any) -> Msg:
    content = dict(
        code=code,
        silent=False,
        store_history=True,
        user_expressions={},
        allow_stdin=False,
        stop_on_error=True,
    )
    content.update(kw)
    return session.msg("execute_request", content)


def test_kernel_info_on_shell_and_control(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            reply = await ch.wait_ready()
            assert reply["msg_type"] == "kernel_info_reply"
            assert reply["content"]["status"] == "ok"
            req = ch.session.msg("kernel_info_request")
            reply = await ch.control.request(req)
            assert reply["msg_type"] == "kernel_info_reply"
            assert reply["parent_header"]["msg_id"] == req["header"]["msg_id"]
            assert ch.shell.pending == 0 and ch.control.pending == 0

    run(main)


def test_execute_iopub_order(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            await ch.wait_ready()
            q = ch.iopub.add_consumer()
            req = execute_msg(ch.session, "print('hello')")
            msg_id = req["header"]["msg_id"]
            reply = await ch.shell.request(req)
            assert reply["msg_type"] == "execute_reply"
            assert reply["content"]["status"] == "ok"
            seen = []
            while not seen or seen[-1] != ("status", "idle"):
                msg = await q.get(10)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                c = msg["content"]
                detail = c.get("execution_state") or c.get("text") or c.get("code")
                seen.append((msg["msg_type"], detail))
            assert seen == [
                ("status", "busy"),
                ("execute_input", "print('hello')"),
                ("stream", "hello\n"),
                ("status", "idle"),
            ]

    run(main)


def test_plain_readers_get_replies_nobody_waited_for(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            await ch.wait_ready()
            # upstream's idiom: msg_id = kc.execute(...); kc.get_shell_msg(timeout=...)
            msg_id = await ch.shell.send(execute_msg(ch.session, "1+1"))
            reply = await ch.shell.get_msg(timeout=10)
            assert reply["parent_header"]["msg_id"] == msg_id
            with pytest.raises(queue.Empty):
                await ch.shell.get_msg(timeout=0.05)
            # two replies queued; waiting for the second leaves the first in the queue
            first = await ch.shell.send(ch.session.msg("kernel_info_request"))
            second = await ch.shell.send(ch.session.msg("kernel_info_request"))
            while len(ch.shell.queue) < 2:
                await trio.sleep(0.01)
            assert (await ch.shell.wait_reply(second))["parent_header"]["msg_id"] == second
            assert (await ch.shell.get_msg(0))["parent_header"]["msg_id"] == first
            # a registered slot takes its reply even while a plain reader waits
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ch.shell.get_msg, 30)  # must stay waiting
                await trio.sleep(0.01)
                reply = await ch.shell.request(ch.session.msg("kernel_info_request"))
                assert reply["msg_type"] == "kernel_info_reply"
                assert len(ch.shell.queue) == 0
                nursery.cancel_scope.cancel()
            # a requester that gives up: its late reply is not lost
            req = execute_msg(ch.session, "import time; time.sleep(0.3)")
            with trio.move_on_after(0.05):
                await ch.shell.request(req)
            late = await ch.shell.wait_reply(req["header"]["msg_id"])
            assert late["msg_type"] == "execute_reply"

    run(main)


def test_stdin_input_request_routed_by_shared_identity(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            await ch.wait_ready()
            req = execute_msg(
                ch.session, "name = input('name? ')", allow_stdin=True, user_expressions={}
            )
            msg_id = await ch.shell.send(req)
            ask = await ch.stdin.get_msg(timeout=10)
            assert ask["msg_type"] == "input_request"
            assert ask["content"]["prompt"] == "name? "
            await ch.stdin.send(ch.session.msg("input_reply", {"value": "trio"}, parent=ask))
            reply = await ch.shell.wait_reply(msg_id)
            assert reply["content"]["status"] == "ok"
            check = execute_msg(ch.session, "", user_expressions={"n": "name"})
            reply = await ch.shell.request(check)
            assert reply["content"]["user_expressions"]["n"]["data"]["text/plain"] == "'trio'"

    run(main)


# A short pause every 500 messages: ipykernel's IOPub PUB drops what exceeds its send
# high-water mark (libzmq's default, 1000; ipykernel sets none) when the subscriber falls
# behind, which a loaded CI machine can cause; this test checks that *we* lose and reorder
# nothing.
STREAM_10K = """
import time
k = get_ipython().kernel
parent = k.get_parent()
for i in range(10000):
    k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": f"{i}\\n"},
                   parent=parent, ident=b"stream.stdout")
    if i % 500 == 499:
        time.sleep(0.02)
"""


def test_10k_iopub_messages_none_lost_in_order(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            await ch.wait_ready()
            single = ch.iopub.add_consumer()
            batched = ch.iopub.add_consumer()
            req = execute_msg(ch.session, STREAM_10K)
            msg_id = req["header"]["msg_id"]
            reply = await ch.shell.request(req)
            assert reply["content"]["status"] == "ok", reply["content"]

            def mine(m: Msg) -> bool:
                return m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream"

            texts: list[str] = []
            while len(texts) < 10_000:
                texts.extend(m["content"]["text"] for m in await next_batch(batched, 10) if mine(m))
            assert texts == [f"{i}\n" for i in range(10_000)]
            count = 0
            while count < 10_000:
                m = await single.get(10)
                if mine(m):
                    assert m["content"]["text"] == f"{count}\n"
                    count += 1
            assert ch.iopub.decoder.dropped == 0

    run(main)


# -- fake peers: bad input is dropped and logged, the channel stays usable ------------------


def test_garbage_from_fake_router_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "jupyter_client.actors.wire")

    async def main() -> None:
        info = {"key": "secret", "signature_scheme": "hmac-sha256"}
        session = make_session(info)
        impostor = SessionCore(key=b"wrong", signature_scheme="hmac-sha256")
        async with ZContext() as ctx, trio.open_nursery() as nursery:
            router = ctx.socket(zmq.ROUTER)
            url = router.bind("tcp://127.0.0.1:*")
            shell = ChannelActor(ctx, session, url, identity=b"client-1")
            await nursery.start(shell.run)

            async def fake_kernel() -> None:
                while True:
                    try:
                        frames = await router.recv_multipart()
                    except trio.ClosedResourceError:
                        return
                    ident = frames[0]
                    assert ident == b"client-1"
                    _, rest = session.feed_identities(frames)
                    request = session.deserialize(rest)
                    reply = session.msg("kernel_info_reply", {"status": "ok"}, parent=request)
                    for bad in (
                        [ident, b"garbage"],
                        [ident, b"<IDS|MSG>", b"bad", b"{}", b"{}", b"{}", b"{}"],
                        [ident, b"<IDS|MSG>", b"", b"\xff\xfe", b"{", b"", b""],
                        impostor.serialize(reply, ident=ident),
                    ):
                        await router.send_multipart(bad)
                    await router.send_multipart(session.serialize(reply, ident=ident))

            nursery.start_soon(fake_kernel)
            for _ in range(2):  # still usable after the garbage
                req = session.msg("kernel_info_request")
                reply = await shell.request(req)
                assert reply["parent_header"]["msg_id"] == req["header"]["msg_id"]
            assert shell.decoder.dropped == 8
            assert len(shell.queue) == 0
            await shell.stop()
            router.close()
            nursery.cancel_scope.cancel()

    run(main, timeout=20)
    assert sum("dropped an invalid message" in r.getMessage() for r in caplog.records) == 8


def test_garbage_on_iopub_is_dropped() -> None:
    async def main() -> None:
        session = make_session({"key": "k", "signature_scheme": "hmac-sha256"})
        async with ZContext() as ctx, trio.open_nursery() as nursery:
            pub = ctx.socket(zmq.PUB)
            url = pub.bind("tcp://127.0.0.1:*")
            iopub = IOPubActor(ctx, session, url)
            await nursery.start(iopub.run)
            assert iopub.queue is not None
            good = session.msg("stream", {"name": "stdout", "text": "ok"})
            while iopub.received.value == 0:  # slow joiner: publish until it connects
                await pub.send_multipart([b"garbage", b"frames"])
                await pub.send_multipart(session.serialize(good, ident=b"stream"))
                await trio.sleep(0.01)
            msg = await iopub.get_msg(5)
            assert msg["content"]["text"] == "ok"
            assert iopub.decoder.dropped >= 1
            await iopub.stop()
            with pytest.raises(ChannelClosed):
                while True:
                    await iopub.get_msg(5)  # drains what is left, then says closed
            pub.close()

    run(main, timeout=20)


def test_pending_requests_fail_on_death_and_close() -> None:
    async def main() -> None:
        session = make_session({"key": "k", "signature_scheme": "hmac-sha256"})
        async with ZContext() as ctx, trio.open_nursery() as nursery:
            router = ctx.socket(zmq.ROUTER)  # a kernel that never answers
            url = router.bind("tcp://127.0.0.1:*")
            shell = ChannelActor(ctx, session, url)
            await nursery.start(shell.run)
            errors: list[BaseException] = []

            async def requester() -> None:
                try:
                    await shell.request(session.msg("kernel_info_request"))
                except Exception as exc:
                    errors.append(exc)

            async with trio.open_nursery() as requesters:
                for _ in range(3):
                    requesters.start_soon(requester)
                while shell.pending < 3:
                    await trio.sleep(0.01)
                await shell.fail_pending(RuntimeError("kernel died"))
            assert [str(e) for e in errors] == ["kernel died"] * 3

            errors.clear()
            async with trio.open_nursery() as requesters:
                requesters.start_soon(requester)
                while shell.pending < 1:
                    await trio.sleep(0.01)
                await shell.stop()
            assert len(errors) == 1 and isinstance(errors[0], ChannelClosed)
            with pytest.raises(ChannelClosed):
                await shell.send(session.msg("kernel_info_request"))
            with pytest.raises(ChannelClosed):
                await shell.get_msg(1)
            router.close()

    run(main, timeout=20)


def test_reconnect_then_usable(kernel: KernelProcess) -> None:
    async def main() -> None:
        async with kernel_channels(kernel.info) as ch:
            await ch.wait_ready()
            await ch.shell.reconnect()
            reply = await ch.shell.request(ch.session.msg("kernel_info_request"))
            assert reply["msg_type"] == "kernel_info_reply"
            await ch.iopub.reconnect()
            await ch.wait_ready()  # re-subscribed: IOPub speaks again

    run(main)
