"""ZSocket: lost wake-ups, cancellation and closing, over real TCP sockets.

A lost wake-up shows as a hang, so every test runs under ``trio.fail_after``; on a timeout
the socket's EVENTS (read through the wrapper) tells a lost wake-up (POLLIN set) from a lost
message (clear). Far ends that must run while the trio thread is busy are plain blocking
pyzmq sockets in a helper thread.
"""

from __future__ import annotations

import math
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable

import pytest
import trio
import zmq

from jupyter_client.actors.zsocket import ZContext, ZSocket

LOCAL = "tcp://127.0.0.1:*"


def payload(seq: int, rng: random.Random) -> list[bytes]:
    size = int(math.exp(rng.uniform(0, math.log(64 * 1024)))) - 1
    body = rng.randbytes(size)
    return [seq.to_bytes(8, "big"), zlib.crc32(body).to_bytes(4, "big"), body]


def check(frames: list[bytes]) -> int:
    seq_b, crc_b, body = frames[-3:]
    assert zlib.crc32(body) == int.from_bytes(crc_b, "big"), "corrupted frame"
    return int.from_bytes(seq_b, "big")


class EchoThread:
    """A blocking ROUTER echo server in its own thread (runs while trio's thread is busy)."""

    def __init__(self, ctx: ZContext, *, hwm: int = 1000, delay: Callable[[], None] | None = None):
        self.sock = ctx.zmq_context.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.RCVHWM, hwm)
        self.sock.bind(LOCAL)
        self.url = self.sock.getsockopt(zmq.LAST_ENDPOINT).decode()  # type: ignore[union-attr]
        self.delay = delay
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="echo")

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self.stop.is_set():
            if not poller.poll(20):
                continue
            frames = self.sock.recv_multipart()
            if self.delay:
                self.delay()
            while not self.stop.is_set():
                try:
                    self.sock.send_multipart(frames, zmq.NOBLOCK)
                    break
                except zmq.Again:
                    time.sleep(0.0005)
        self.sock.close(linger=0)

    def __enter__(self) -> EchoThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def dealer(ctx: ZContext, url: str, hwm: int = 1000, buf: int | None = None) -> ZSocket:
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    if buf:
        sock.setsockopt(zmq.SNDBUF, buf)
        sock.setsockopt(zmq.RCVBUF, buf)
    sock.connect(url)
    return sock


def diag(sock: ZSocket) -> str:
    ev = sock.events()
    return "lost wake-up (POLLIN set)" if ev & zmq.POLLIN else f"no message (EVENTS={ev})"


# -- many senders, one reader ---------------------------------------------------------------


async def _stress(seed: int, n: int, senders: int) -> None:
    rng = random.Random(seed)
    async with ZContext() as ctx:
        with EchoThread(ctx, hwm=2) as echo:
            sock = dealer(ctx, echo.url, hwm=2, buf=4096)
            seen: set[int] = set()
            per_sender = n // senders

            async def sender(k: int) -> None:
                r = random.Random(seed * 100 + k)
                for i in range(per_sender):
                    await sock.send_multipart(payload(k * per_sender + i, r))
                    if r.random() < 0.01:
                        await trio.sleep(r.uniform(0, 0.003))  # go idle, wake again

            async def reader() -> None:
                while len(seen) < per_sender * senders:
                    seq = check(await sock.recv_multipart())
                    assert seq not in seen, f"duplicate {seq}"
                    seen.add(seq)
                    if rng.random() < 0.005:
                        await trio.sleep(rng.uniform(0, 0.003))

            try:
                with trio.fail_after(60):
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(reader)
                        for k in range(senders):
                            nursery.start_soon(sender, k)
            except trio.TooSlowError:
                pytest.fail(f"stress hung with {len(seen)} received: {diag(sock)}")
            assert seen == set(range(per_sender * senders))
            sock.close()


@pytest.mark.parametrize("seed,n,senders", [(1, 20_000, 8), (2, 6_000, 4), (3, 6_000, 1)])
def test_stress_random_sizes_both_ways(seed: int, n: int, senders: int) -> None:
    trio.run(_stress, seed, n, senders)


def test_busy_sender_does_not_eat_the_readers_edge() -> None:
    """The reader sleeps on the fd first; a sender doing 2 ms of blocking work after each
    send processes the socket's mailbox and would eat the reader's edge without re-checks."""

    async def main() -> None:
        async with ZContext() as ctx:
            with EchoThread(ctx) as echo:
                sock = dealer(ctx, echo.url)
                got = 0

                async def reader() -> None:
                    nonlocal got
                    while got < 300:
                        await sock.recv_multipart()
                        got += 1

                try:
                    with trio.fail_after(30):
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(reader)
                            await trio.sleep(0.05)  # the reader is on the fd now
                            for i in range(300):
                                await sock.send_multipart([b"%d" % i])
                                time.sleep(0.002)
                except trio.TooSlowError:
                    pytest.fail(f"{got}/300 replies: {diag(sock)}")
                sock.close()

    trio.run(main)


def test_queued_before_first_recv() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            pull = ctx.socket(zmq.PULL)
            url = pull.bind(LOCAL)
            push = ctx.socket(zmq.PUSH)
            push.connect(url)
            for i in range(3):
                await push.send_multipart([b"%d" % i])
            await trio.sleep(0.1)  # all three queued, one edge at most
            with trio.fail_after(5):
                assert [(await pull.recv_multipart())[0] for _ in range(3)] == [b"0", b"1", b"2"]
            push.close()
            pull.close()

    trio.run(main)


# -- streams ---------------------------------------------------------------------------------


def _publisher(ctx: zmq.Context[zmq.Socket[bytes]], url_box: list[str], n: int) -> None:
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(LOCAL)
    url_box.append(pub.getsockopt(zmq.LAST_ENDPOINT).decode())  # type: ignore[union-attr]
    if pub.poll(10_000):
        pub.recv()  # the subscription: no slow joiner
        for i in range(n):
            pub.send_multipart([b"t", i.to_bytes(8, "big")])
        pub.poll(10_000)  # wait until the subscriber leaves
    pub.close(linger=0)


@pytest.mark.parametrize("batched", [False, True])
def test_pub_sub_200k_in_order(batched: bool) -> None:
    n = 200_000

    async def main() -> None:
        async with ZContext() as ctx:
            box: list[str] = []
            thread = threading.Thread(target=_publisher, args=(ctx.zmq_context, box, n))
            thread.start()
            try:
                while not box:
                    await trio.sleep(0.01)
                sub = ctx.socket(zmq.SUB)
                sub.setsockopt(zmq.RCVHWM, 0)
                sub.subscribe(b"")
                sub.connect(box[0])
                expect = 0
                with trio.fail_after(60):
                    while expect < n:
                        batch = await sub.recv_batch() if batched else [await sub.recv_multipart()]
                        for frames in batch:
                            assert int.from_bytes(frames[1], "big") == expect
                            expect += 1
                sub.close()
            finally:
                thread.join()

    trio.run(main)


# -- cancellation ---------------------------------------------------------------------------


def test_cancel_idle_recv_leaves_nothing_behind() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            pull = ctx.socket(zmq.PULL)
            url = pull.bind(LOCAL)
            push = ctx.socket(zmq.PUSH)
            push.connect(url)
            with trio.move_on_after(0.05):
                await pull.recv_multipart()
            assert pull._waiting == 0 and pull._watch is None
            await push.send_multipart([b"x"])
            with trio.fail_after(5):
                assert await pull.recv_multipart() == [b"x"]
            push.close()
            pull.close()

    trio.run(main)


@pytest.mark.parametrize("batched", [False, True])
def test_cancel_storm_loses_and_duplicates_nothing(batched: bool) -> None:
    n = 20_000

    async def main() -> None:
        rng = random.Random(7)
        async with ZContext() as ctx:
            pull = ctx.socket(zmq.PULL)
            pull.setsockopt(zmq.RCVHWM, 1)
            url = pull.bind(LOCAL)
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.SNDHWM, 1)
            push.connect(url)
            got: list[int] = []
            cancelled = 0

            async def sender() -> None:
                for i in range(n):
                    await push.send_multipart([i.to_bytes(4, "big")])

            async def receiver() -> None:
                nonlocal cancelled
                while len(got) < n:
                    with trio.move_on_after(rng.uniform(0, 0.001)) as scope:
                        if batched:
                            batch = await pull.recv_batch(64)
                        else:
                            batch = [await pull.recv_multipart()]
                        got.extend(int.from_bytes(f[0], "big") for f in batch)
                    cancelled += scope.cancelled_caught

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(sender)
                    nursery.start_soon(receiver)
            assert got == list(range(n))
            assert cancelled > 0  # the storm did happen
            push.close()
            pull.close()

    trio.run(main)


def test_many_cancelled_receivers_and_senders_at_hwm_1() -> None:
    n_per, senders, receivers = 2_500, 4, 4

    async def main() -> None:
        rng = random.Random(11)
        async with ZContext() as ctx:
            pull = ctx.socket(zmq.PULL)
            pull.setsockopt(zmq.RCVHWM, 1)
            url = pull.bind(LOCAL)
            push = ctx.socket(zmq.PUSH)
            push.setsockopt(zmq.SNDHWM, 1)
            push.connect(url)
            got: list[tuple[int, int]] = []
            done = trio.Event()

            async def sender(k: int) -> None:
                for i in range(n_per):
                    await push.send_multipart([bytes([k]), i.to_bytes(4, "big")])

            async def receiver() -> None:
                while not done.is_set():
                    with trio.move_on_after(rng.uniform(0, 0.002)):
                        f = await pull.recv_multipart()
                        got.append((f[0][0], int.from_bytes(f[1], "big")))
                        if len(got) == n_per * senders:
                            done.set()

            with trio.fail_after(60):
                async with trio.open_nursery() as nursery:
                    for k in range(senders):
                        nursery.start_soon(sender, k)
                    for _ in range(receivers):
                        nursery.start_soon(receiver)
            # Exactly once each. (Order across several receivers is not observable: each
            # yields after its recv, so appends may interleave.)
            assert len(got) == len(set(got)) == n_per * senders
            push.close()
            pull.close()

    trio.run(main)


def test_cancelled_send_at_hwm_is_never_delivered() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            # A DEALER with no peer: sends block once the (tiny) queue is full.
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.SNDHWM, 1)
            d.setsockopt(zmq.IMMEDIATE, 1)
            with socket.socket() as probe:  # a free port nobody listens on (closed at once,
                probe.bind(("127.0.0.1", 0))  # unlike a zmq socket, closed by a reaper)
                url = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
            d.connect(url)
            with trio.move_on_after(0.1) as scope:
                await d.send_multipart([b"cancelled"])
            assert scope.cancelled_caught
            r2 = ctx.socket(zmq.ROUTER)
            r2.bind(url)
            with trio.fail_after(5):
                await d.send_multipart([b"next"])
                _ident, body = await r2.recv_multipart()
            assert body == b"next"
            with trio.move_on_after(0.2):
                assert await r2.recv_multipart() is None, "the cancelled send came later"
            d.close()
            r2.close()

    trio.run(main)


def test_cancelled_watcher_hands_over_to_parked_task() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            pull = ctx.socket(zmq.PULL)
            url = pull.bind(LOCAL)
            push = ctx.socket(zmq.PUSH)
            push.connect(url)
            got: list[bytes] = []
            watcher_scope = trio.CancelScope()

            async def watcher() -> None:
                with watcher_scope:
                    await pull.recv_multipart()
                    pytest.fail("the cancelled watcher received")

            async def parked() -> None:
                got.append((await pull.recv_multipart())[0])

            with trio.fail_after(5):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watcher)
                    await trio.sleep(0.02)
                    nursery.start_soon(parked)
                    await trio.sleep(0.02)
                    assert pull._watch is not None and pull._waiting == 2
                    watcher_scope.cancel()
                    await trio.sleep(0.02)
                    await push.send_multipart([b"for the parked one"])
            assert got == [b"for the parked one"]
            push.close()
            pull.close()

    trio.run(main)


# -- closing ----------------------------------------------------------------------------------


def test_close_wakes_every_waiter() -> None:
    async def main() -> None:
        ctx = ZContext()
        sock = ctx.socket(zmq.DEALER)
        sock.connect("tcp://127.0.0.1:9")  # nobody there
        errors: list[BaseException] = []

        async def waiter() -> None:
            try:
                await sock.recv_multipart()
            except trio.ClosedResourceError as exc:
                errors.append(exc)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(waiter)
                await trio.sleep(0.05)
                sock.close()
            assert len(errors) == 3
            with pytest.raises(trio.ClosedResourceError):
                await sock.send_multipart([b"x"])
            await ctx.aclose()
            assert ctx.zmq_context.closed

    trio.run(main)


def test_context_closes_with_undelivered_message_and_stray_socket() -> None:
    async def main() -> None:
        ctx = ZContext()
        d = ctx.socket(zmq.DEALER)
        d.connect("tcp://127.0.0.1:9")
        await d.send_multipart([b"to nobody"])  # queued forever: LINGER 0 must drop it
        with trio.fail_after(5):
            await ctx.aclose()  # also closes the socket left open
        assert d.closed and ctx.zmq_context.closed

    trio.run(main)


def test_subscribe_through_wrapper_wakes_waiter() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            pub = ctx.socket(zmq.PUB)
            url = pub.bind(LOCAL)
            sub = ctx.socket(zmq.SUB)
            sub.connect(url)
            got: list[list[bytes]] = []

            async def reader() -> None:
                got.append(await sub.recv_multipart())

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(reader)
                    await trio.sleep(0.02)
                    sub.subscribe(b"a")
                    while not got:
                        await pub.send_multipart([b"a", b"hello"])
                        await trio.sleep(0.01)
            assert got[0] == [b"a", b"hello"]
            pub.close()
            sub.close()

    trio.run(main)


def test_send_nowait_never_overtakes_a_waiting_sender() -> None:
    async def main() -> None:
        async with ZContext() as ctx:
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.SNDHWM, 1)
            d.setsockopt(zmq.IMMEDIATE, 1)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                url = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
            d.connect(url)  # nobody there yet: sends must wait
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(d.send_multipart, [b"first"])
                    await trio.sleep(0.05)  # the sender is waiting on the fd for POLLOUT
                    r = ctx.socket(zmq.ROUTER)
                    r.bind(url)
                    time.sleep(0.3)  # the peer attaches; the waiting sender cannot run yet
                    assert not d.send_multipart_nowait([b"second"])
                    _ident, body = await r.recv_multipart()
                    assert body == b"first"
                while not d.send_multipart_nowait([b"second"]):
                    await trio.sleep(0.01)
                assert (await r.recv_multipart())[1] == b"second"
            d.close()
            r.close()

    trio.run(main)
