"""The registration handshake end to end: real kernel processes (``kernels/handshake_kernel.py``)
started by KernelManager / AsyncKernelManager from a kernelspec that opts in
(``kernel_protocol_version: "5.6"``), plus the registrar on its own against raw zmq peers.

Every scenario shuts its kernel down; the suite's leak check verifies no process, thread or fd
is left (the registrar's own zmq context included).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import trio
import zmq
from handshake_helpers import (
    MINIMAL_KERNEL,
    PORTS,
    check_connection_file,
    classic_keys,
    install_spec,
    kernel_argv,
    quick,
    run,
)

from jupyter_client.actors.registration import Registrar, RegistrationTimeout
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.protocol.handshake import RegistrationCodec

pytestmark = pytest.mark.timeout(120)


def test_blocking_manager_start_execute_restart_shutdown(
    jupyter_path: Path, tmp_path: Path
) -> None:
    install_spec(jupyter_path, "hs")
    km = KernelManager(kernel_name="hs")
    assert km.ports == [0, 0, 0, 0, 0]
    km.start_kernel()
    try:
        first = check_connection_file(km, tmp_path)
        argv = kernel_argv(km)
        assert argv[argv.index("-f") + 1].endswith("-registration.json")  # not the conn. file
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            assert run(kc, "x = 41")["content"]["status"] == "ok"
        finally:
            kc.stop_channels()

        km.restart_kernel()  # the handshake again: the kernel binds (and registers) anew
        second = check_connection_file(km, tmp_path)
        assert km.is_alive()
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            reply = run(kc, "assert 'x' not in dir()")  # a new process
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        assert first["key"] == second["key"]
    finally:
        km.shutdown_kernel()
    assert not km.is_alive()
    assert not os.path.exists(km.connection_file)


def test_async_manager_under_asyncio_interrupt_and_shutdown(
    jupyter_path: Path, tmp_path: Path
) -> None:
    install_spec(jupyter_path, "hs")

    async def main() -> None:
        km = AsyncKernelManager(kernel_name="hs")
        await km.start_kernel()
        try:
            check_connection_file(km, tmp_path)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=30)
                msg_id = kc.execute("import time; time.sleep(30)")
                # Again until the reply: a SIGINT that lands before the cell runs is
                # ignored, and on a loaded machine a fixed pause may not be enough.
                for _ in range(20):
                    await asyncio.sleep(0.5)
                    await km.interrupt_kernel()
                    with contextlib.suppress(TimeoutError):
                        reply = await kc._recv_reply(msg_id, timeout=1)
                        break
                else:
                    raise AssertionError("the cell was never interrupted")
                assert reply["content"]["ename"] == "KeyboardInterrupt"
            finally:
                kc.stop_channels()
            await km.restart_kernel()
            check_connection_file(km, tmp_path)
        finally:
            await km.shutdown_kernel()
        assert not await km.is_alive()

    asyncio.run(main())


def test_async_manager_under_trio(jupyter_path: Path, tmp_path: Path) -> None:
    install_spec(jupyter_path, "hs")

    async def main() -> None:
        km = AsyncKernelManager(kernel_name="hs")
        await km.start_kernel()
        try:
            check_connection_file(km, tmp_path)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=30)
                reply = await kc.execute("y = 2", reply=True, timeout=30)
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


def test_never_registers_is_a_clear_timeout(jupyter_path: Path) -> None:
    install_spec(jupyter_path, "silent", "--never-register")
    km = KernelManager(kernel_name="silent", config=quick(1.5))
    with pytest.raises(
        TimeoutError, match=r"did not register on tcp://127\.0\.0\.1:\d+ within 1\.5 s"
    ):
        km.start_kernel()
    assert not km.has_kernel
    km.cleanup_resources()


def test_bad_signature_is_logged_and_ignored(
    jupyter_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_spec(jupyter_path, "forger", "--bad-signature")
    km = KernelManager(kernel_name="forger", config=quick(2.0))
    with caplog.at_level(logging.WARNING, logger="jupyter_client.actors.registration"):
        with pytest.raises(RegistrationTimeout) as info:
            km.start_kernel()
    assert "ignored 1 invalid registration(s)" in str(info.value)
    assert "bad signature" in str(info.value)
    warnings = [r.getMessage() for r in caplog.records if r.name.endswith("registration")]
    assert any("bad signature" in w for w in warnings), warnings
    km.cleanup_resources()


def test_exit_before_registering_names_the_exit(jupyter_path: Path) -> None:
    install_spec(jupyter_path, "quitter", "--exit-before-register")
    km = KernelManager(kernel_name="quitter", config=quick(30.0))
    with pytest.raises(RuntimeError, match=r"exited before registering.*exit code 7"):
        km.start_kernel()  # well before the 30 s bound: the exit ends the wait
    km.cleanup_resources()


def test_kernelspec_without_opt_in_keeps_manager_chosen_ports(
    jupyter_path: Path, tmp_path: Path
) -> None:
    install_spec(jupyter_path, "classic", version="5.5", kernel=MINIMAL_KERNEL)
    km = KernelManager(kernel_name="classic")
    km.start_kernel()
    try:
        argv = kernel_argv(km)
        assert argv[argv.index("-f") + 1] == os.path.realpath(km.connection_file)
        info = json.loads(Path(km.connection_file).read_text())
        assert set(info) == classic_keys(tmp_path)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()
    finally:
        km.shutdown_kernel()


def test_unparsable_protocol_version_is_logged_and_classic(
    jupyter_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_spec(jupyter_path, "odd", version="five", kernel=MINIMAL_KERNEL)
    km = KernelManager(kernel_name="odd")
    with caplog.at_level(logging.WARNING):
        km.start_kernel()
    try:
        argv = kernel_argv(km)
        assert argv[argv.index("-f") + 1] == os.path.realpath(km.connection_file)
        assert any("'five' is not a version number" in r.getMessage() for r in caplog.records)
    finally:
        km.shutdown_kernel(now=True)


# -- the registrar on its own, against raw zmq peers --------------------------------------
def test_registrar_ignores_garbage_and_accepts_the_valid_registration() -> None:
    key = uuid.uuid4().hex

    async def main() -> None:
        registrar = Registrar(kernel_id="k-1", key=key, timeout=20)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.connect(registrar.url)
        ports = dict(zip(PORTS, range(40001, 40006), strict=True))
        good = RegistrationCodec(key, "hmac-sha256", "k-1")
        try:
            dealer.send_multipart([b"no delimiter at all"])
            dealer.send_multipart([b"<IDS|MSG>", b"", b"{}"])  # unsigned
            other = RegistrationCodec(key, "hmac-sha256", "k-2").encode_registration(ports)
            dealer.send_multipart(other)  # signed, but for another kernel
            dealer.send_multipart(good.encode_registration({**ports, "hb_port": 40001}))
            dealer.send_multipart(good.encode_registration(ports))
            with trio.fail_after(20):
                result = await registrar.wait()
            assert dict(result.ports) == ports and result.kernel_id == "k-1"
            assert registrar.ignored_count == 4
            assert "distinct" in registrar.ignored[-1]
            assert dealer.poll(10_000)
            ack = good.decode_reply(dealer.recv_multipart())
            assert ack == {"status": "ok", "kernel_id": "k-1"}
        finally:
            dealer.close()
            ctx.term()
            await registrar.aclose()

    trio.run(main)


def test_registrar_timeout_and_closing() -> None:
    async def main() -> None:
        registrar = Registrar(kernel_id="k", key=b"secret", timeout=0.3)
        try:
            with pytest.raises(RegistrationTimeout, match="did not register"):
                await registrar.wait()
        finally:
            await registrar.aclose()
        await registrar.aclose()  # idempotent
        with pytest.raises(Exception, match="closed"):
            await registrar.wait()

    trio.run(main)
    unused = Registrar(kernel_id="k", key=b"")
    assert unused.port > 0
    unused.close()
    unused.close()
    with pytest.raises(ValueError, match="timeout must be positive"):
        Registrar(kernel_id="k", key=b"", timeout=0)


def test_automatic_restart_runs_the_handshake_again(jupyter_path: Path, tmp_path: Path) -> None:
    """SIGKILL under the restarter: the relaunch registers anew and the manager's ports and
    connection file follow; a new client works."""
    from jupyter_client.ioloop import IOLoopKernelManager

    install_spec(jupyter_path, "hs")
    km = IOLoopKernelManager(kernel_name="hs")
    km.start_kernel()
    restarts: list[int] = []
    km.add_restart_callback(lambda: restarts.append(1))
    try:
        check_connection_file(km, tmp_path)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)

        def relaunched() -> bool:
            if not (restarts and km.is_alive() and km.provisioner.pid != pid):  # type: ignore[union-attr]
                return False
            try:
                info = json.loads(Path(km.connection_file).read_text())
            except (OSError, ValueError):
                return False
            return all(info[n] == getattr(km, n) for n in PORTS)

        deadline = time.monotonic() + 60
        while not relaunched():
            assert time.monotonic() < deadline, "no relaunch with a registered connection file"
            time.sleep(0.01)
        check_connection_file(km, tmp_path)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            assert run(kc, "1")["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        assert restarts == [1]
    finally:
        km.shutdown_kernel()


def test_multikernelmanager_starts_many_handshake_kernels_at_once(jupyter_path: Path) -> None:
    """The port race's home ground (many kernels at once): each kernel's ports are its own."""
    from jupyter_client.multikernelmanager import AsyncMultiKernelManager

    install_spec(jupyter_path, "hs")

    async def main() -> None:
        mkm = AsyncMultiKernelManager()
        try:
            ids = await asyncio.gather(*(mkm.start_kernel(kernel_name="hs") for _ in range(4)))
            ports: list[int] = []
            for kid in ids:
                km = mkm.get_kernel(kid)
                info = json.loads(Path(km.connection_file).read_text())
                assert os.path.basename(km.connection_file) == f"kernel-{kid}.json"
                ports += [info[n] for n in PORTS]
                assert [info[n] for n in PORTS] == [getattr(km, n) for n in PORTS]
            assert len(set(ports)) == len(ports) == 20
        finally:
            await mkm.shutdown_all(now=True)

    asyncio.run(main())


# -- the handshake with transport encryption (CurveZMQ; docs/security.md) ------------------
