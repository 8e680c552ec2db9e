"""A process forked after its parent used jupyter_client can use jupyter_client itself.

A forked child inherits the module-level state (the background trio runtime, the spawner
thread's queue, port reservations, locks) but none of the threads behind it, so before the
fork hooks a kernel started in a multiprocessing worker waited forever for a runtime thread
that did not exist there. Each test here starts real kernels in a real forked child (a
``ProcessPoolExecutor`` with the fork context, or a bare ``os.fork()``), bounds the child by a
timeout (killed on expiry, so a hang fails the test instead of the suite) and reaps it. The
parent must be unaffected: its kernels, runtime and port claims keep working.

The children report through a pipe and leave with ``os._exit`` (never returning into pytest).
Python 3.12+ warns when a multi-threaded process forks; that warning is what these tests are
about, so it is silenced around each fork.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import select
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from kernel_helpers import minimal_kernelspec_manager

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.protocol.port_claims import SharedClaims
from jupyter_client.protocol.ports import default_allocator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

#: Bound on one child's whole run (kernel start, execute, shutdown; a loaded machine is slow).
CHILD_TIMEOUT = 60.0
CODE = "print(6 * 7)"


@contextmanager
def _fork_warnings_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        yield


def _stream_text(msgs: list[dict[str, Any]]) -> str:
    # one print may arrive as several stream messages from a loaded kernel
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")


def _ksm(kernel_dir: str | None) -> KernelSpecManager | None:
    return None if kernel_dir is None else KernelSpecManager(kernel_dirs=[kernel_dir])


def blocking_round(kernel_name: str, kernel_dir: str | None = None) -> str:
    """Start a kernel, run :data:`CODE`, shut down; the printed text."""
    ksm = _ksm(kernel_dir)
    km = KernelManager(kernel_name=kernel_name, **({"kernel_spec_manager": ksm} if ksm else {}))
    km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            out: list[dict[str, Any]] = []
            reply = kc.execute_interactive(CODE, output_hook=out.append, timeout=60)
            assert reply["content"]["status"] == "ok", reply
        finally:
            kc.stop_channels()
    finally:
        km.shutdown_kernel()
    return _stream_text(out)


async def _async_round(kernel_dir: str) -> str:
    km = AsyncKernelManager(kernel_name="minimal", kernel_spec_manager=_ksm(kernel_dir))
    await km.start_kernel()
    try:
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            out: list[dict[str, Any]] = []
            reply = await kc.execute_interactive(CODE, output_hook=out.append, timeout=60)
            assert reply["content"]["status"] == "ok", reply
        finally:
            kc.stop_channels()
    finally:
        await km.shutdown_kernel()
    return _stream_text(out)


def asyncio_round(kernel_dir: str) -> str:
    """:func:`blocking_round` with the asyncio manager and client, under ``asyncio.run``."""
    return asyncio.run(_async_round(kernel_dir))


def _kernel_dir(tmp_path: Path) -> str:
    """The minimal kernel (with stream output) as kernelspec ``minimal``; its kernels dir."""
    minimal_kernelspec_manager(tmp_path, "--iopub-output")
    return str(tmp_path / "kernels")


def in_forked_child(fn: Callable[[], Any], timeout: float = CHILD_TIMEOUT) -> Any:
    """Run ``fn`` in a bare ``os.fork()`` child; its JSON-able result, or fail the test.

    The child reports through a pipe, then ``os._exit``s. A child that does not answer
    within ``timeout`` is SIGKILLed and the test fails; either way the child is reaped.
    """
    r, w = os.pipe()
    with _fork_warnings_silenced():
        pid = os.fork()
    if pid == 0:  # the child: never return from here
        code = 1
        try:
            os.close(r)
            try:
                payload = {"ok": True, "result": fn()}
                code = 0
            except BaseException:
                payload = {"ok": False, "error": traceback.format_exc()}
            with os.fdopen(w, "wb") as pipe:
                pipe.write(json.dumps(payload).encode())
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    hung = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                hung = True
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        if hung:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if hung:
        pytest.fail(f"the forked child did not finish within {timeout:.0f}s (hung)")
    report = json.loads(b"".join(chunks) or b'{"ok": false, "error": "no report"}')
    assert report["ok"], f"child failed (wait status {status}):\n{report['error']}"
    assert os.waitstatus_to_exitcode(status) == 0
    return report["result"]


def test_process_pool_worker_starts_a_kernel_after_the_parent_did() -> None:
    """(a) multiprocessing's fork start method, with the real ipykernel."""
    assert blocking_round("python3").strip() == "42"
    before = {p.pid for p in psutil.Process().children()}
    with _fork_warnings_silenced():
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            future = pool.submit(blocking_round, "python3")
            try:
                output = future.result(timeout=CHILD_TIMEOUT)
            except TimeoutError:
                # a hung worker would also hang the pool's shutdown: kill it first
                for proc in psutil.Process().children():
                    if proc.pid not in before:
                        proc.kill()
                pytest.fail(f"the pool worker did not finish within {CHILD_TIMEOUT:.0f}s (hung)")
    assert output.strip() == "42"
    assert blocking_round("python3").strip() == "42"  # the parent is unaffected


@pytest.mark.parametrize("style", ["blocking", "asyncio"])
def test_bare_fork_child_starts_a_kernel(tmp_path: Path, style: str) -> None:
    """(b) ``os.fork()`` after the parent used the blocking runtime; the child uses the
    blocking API, or the asyncio one under ``asyncio.run``."""
    kernel_dir = _kernel_dir(tmp_path)
    assert blocking_round("minimal", kernel_dir).strip() == "42"
    child: Callable[[], str]
    if style == "blocking":
        child = lambda: blocking_round("minimal", kernel_dir)  # noqa: E731
    else:
        child = lambda: asyncio_round(kernel_dir)  # noqa: E731
    assert in_forked_child(child).strip() == "42"
    assert blocking_round("minimal", kernel_dir).strip() == "42"


def test_parent_kernel_survives_a_child_that_used_jupyter_client(tmp_path: Path) -> None:
    """(c) A kernel the parent started before the fork keeps working after the child ran its
    own kernel and exited: the child neither took over the parent's reservations nor
    released its claims, and the parent's handles fail at once in the child (no hang)."""
    kernel_dir = _kernel_dir(tmp_path)
    km = KernelManager(kernel_name="minimal", kernel_spec_manager=_ksm(kernel_dir))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        ports = sorted(int(v) for k, v in km.get_connection_info().items() if k.endswith("_port"))
        claims = default_allocator().claims
        assert [claims.owner(p) for p in ports] == [os.getpid()] * len(ports)

        def child() -> dict[str, Any]:
            view: dict[str, Any] = {"reserved": sorted(set(ports) & default_allocator().reserved)}
            try:
                kc.kernel_info()
            except RuntimeError as exc:
                view["inherited_client"] = str(exc)
            view["output"] = blocking_round("minimal", kernel_dir)
            return view

        view = in_forked_child(child)
        assert view["reserved"] == []  # the parent's reservations are not the child's
        assert "forked" in view["inherited_client"]
        assert view["output"].strip() == "42"

        assert [claims.owner(p) for p in ports] == [os.getpid()] * len(ports)
        assert Path(km.connection_file).exists()
        out: list[dict[str, Any]] = []
        reply = kc.execute_interactive(CODE, output_hook=out.append, timeout=60)
        assert reply["content"]["status"] == "ok"
        assert _stream_text(out).strip() == "42"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_locks_held_by_parent_threads_at_fork_are_not_reused(tmp_path: Path) -> None:
    """A parent thread holding jupyter_client's module locks at the fork (it is mid-call)
    never releases them in the child, which must get fresh ones instead of blocking."""
    from jupyter_client.actors import launch, runtime
    from jupyter_client.protocol import ports

    kernel_dir = _kernel_dir(tmp_path)
    assert blocking_round("minimal", kernel_dir).strip() == "42"  # the spawner thread exists
    locks = [
        runtime._runtime._lock,
        launch._spawner.lock,
        ports._default_lock,
        default_allocator()._lock,
    ]
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        holding.set()
        done.wait(CHILD_TIMEOUT + 30)
        for lock in reversed(locks):
            lock.release()

    holder = threading.Thread(target=hold, name="lock-holder")
    holder.start()
    try:
        assert holding.wait(30)
        output = in_forked_child(lambda: blocking_round("minimal", kernel_dir))
    finally:
        done.set()
        holder.join(30)
    assert output.strip() == "42"
    assert blocking_round("minimal", kernel_dir).strip() == "42"


def test_child_forked_mid_claim_transaction_does_not_keep_the_claim_lock(
    tmp_path: Path,
) -> None:
    """A child forked while a parent thread is inside a claim transaction inherits the
    lock file's descriptor, and with it the flock; it must close its copy, or the lock
    stays held (for everyone) as long as the child lives."""
    claims = SharedClaims(str(tmp_path / "claims"))
    inside, leave = threading.Event(), threading.Event()

    def transaction() -> None:
        with claims.locked() as txn:
            assert txn is not None
            inside.set()
            leave.wait(30)

    worker = threading.Thread(target=transaction, name="claim-transaction")
    worker.start()
    try:
        assert inside.wait(30)
        r, w = os.pipe()
        with _fork_warnings_silenced():
            pid = os.fork()
        if pid == 0:  # the child: stay alive until the parent has looked (EOF on the pipe)
            try:
                os.close(w)
                select.select([r], [], [], CHILD_TIMEOUT)
            finally:
                os._exit(0)
        os.close(r)
        try:
            leave.set()
            worker.join(30)
            # the parent's transaction is over: only the child's copy could hold the lock now
            with claims.locked() as txn:
                assert txn is not None, "the forked child still holds the claim directory lock"
        finally:
            os.close(w)  # EOF: the child exits
            os.waitpid(pid, 0)
    finally:
        leave.set()
        worker.join(30)
