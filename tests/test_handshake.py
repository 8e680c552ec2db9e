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
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio
import zmq
from traitlets.config import Config

from jupyter_client.actors.registration import Registrar, RegistrationTimeout
from jupyter_client.connect import write_connection_file
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.protocol.handshake import RegistrationCodec
from jupyter_client.protocol.session import SessionCore

pytestmark = pytest.mark.timeout(120)

KERNELS = Path(__file__).with_name("kernels")
HANDSHAKE_KERNEL = str(KERNELS / "handshake_kernel.py")
MINIMAL_KERNEL = str(KERNELS / "minimal_kernel.py")
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


@pytest.fixture
def jupyter_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A JUPYTER_PATH of our own (kernelspecs go in ``kernels/``) and a private runtime dir."""
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return tmp_path / "share"


def install_spec(
    share: Path,
    name: str,
    *flags: str,
    version: str = "5.6",
    kernel: str = HANDSHAKE_KERNEL,
    metadata: dict[str, Any] | None = None,
) -> None:
    d = share / "kernels" / name
    d.mkdir(parents=True)
    spec: dict[str, Any] = {
        "argv": [sys.executable, kernel, "-f", "{connection_file}", *flags],
        "display_name": f"test {name}",
        "language": "python",
        "kernel_protocol_version": version,
    }
    if metadata is not None:
        spec["metadata"] = metadata
    (d / "kernel.json").write_text(json.dumps(spec))


def quick(timeout: float = 2.0) -> Config:
    return Config({"LocalProvisioner": {"registration_timeout": timeout}})


def classic_keys(tmp_path: Path) -> set[str]:
    """The keys of a connection file written the classic way (manager-chosen ports)."""
    fname, _ = write_connection_file(str(tmp_path / "classic.json"), kernel_name="x")
    try:
        return set(json.loads(Path(fname).read_text()))
    finally:
        os.unlink(fname)


def check_connection_file(km: Any, tmp_path: Path) -> dict[str, Any]:
    """The file at km.connection_file is a classic one carrying the registered ports."""
    info = json.loads(Path(km.connection_file).read_text())
    assert set(info) == classic_keys(tmp_path)
    mine = km.get_connection_info()
    for name in PORTS:
        assert info[name] == mine[name] > 0
    assert info["key"] == mine["key"].decode() and info["kernel_name"] == km.kernel_name
    assert len({info[name] for name in PORTS}) == 5
    reg_file = os.path.splitext(km.connection_file)[0] + "-registration.json"
    assert not os.path.exists(reg_file)  # removed once the kernel registered
    return info


def kernel_argv(km: Any) -> list[str]:
    return psutil.Process(km.provisioner.pid).cmdline()


def run(kc: Any, code: str) -> dict[str, Any]:
    return kc.execute_interactive(code, timeout=30, output_hook=lambda m: None)  # type: ignore[no-any-return]


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
CURVE_KEYS = ("curve_publickey", "curve_secretkey")


def curve_keys(doc: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in doc.items() if k.startswith("curve_")}


def shell_probe(km: Any, server_key: bytes | None, wait: float) -> list[bytes] | None:
    """A kernel_info_request from a raw DEALER on the shell port: the reply's frames, or None
    if none came within ``wait`` s. ``server_key`` makes the DEALER a CURVE client of it
    (with a fresh keypair of its own); None leaves it plain, as any unauthenticated peer."""
    session = SessionCore(key=km.session.key, signature_scheme=km.session.signature_scheme)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.linger = 0
    try:
        if server_key is not None:
            dealer.curve_publickey, dealer.curve_secretkey = zmq.curve_keypair()
            dealer.curve_serverkey = server_key
        dealer.connect(f"tcp://{km.ip}:{km.shell_port}")
        dealer.send_multipart(session.serialize(session.msg("kernel_info_request", {})))
        if not dealer.poll(int(wait * 1000)):
            return None
        return dealer.recv_multipart()
    finally:
        dealer.close()
        ctx.term()


def check_encrypted_kernel(km: Any, saved: Path) -> dict[str, str]:
    """The registration file the kernel read and the connection file written on registration
    carry the manager's keypair; the kernel answers a CURVE client and ignores a plain one."""
    registration = json.loads(saved.read_text())
    info = json.loads(Path(km.connection_file).read_text())
    keys = curve_keys(info)
    assert set(keys) == set(CURVE_KEYS) and all(len(v) == 40 for v in keys.values())
    assert curve_keys(registration) == keys
    assert km.curve_publickey == keys["curve_publickey"].encode()
    assert zmq.curve_public(keys["curve_secretkey"].encode()) == km.curve_publickey
    # Control first: the probe works (a CURVE client of the kernel's key gets its reply) ...
    assert shell_probe(km, km.curve_publickey, 30.0) is not None
    # ... so the silence of a plain peer is the kernel enforcing encryption, not a dead port.
    assert shell_probe(km, None, 2.0) is None
    return keys


def run_with_output(kc: Any, code: str) -> tuple[dict[str, Any], str]:
    streams: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["header"]["msg_type"] == "stream":
            streams.append(msg["content"]["text"])

    reply = kc.execute_interactive(code, timeout=30, output_hook=hook)
    return reply, "".join(streams)


@pytest.mark.parametrize("policy", ["required", "auto"])
def test_handshake_with_curve_encryption(jupyter_path: Path, tmp_path: Path, policy: str) -> None:
    """A kernelspec opting into the handshake and declaring curve: the keys travel in the
    registration file, the kernel's sockets are CURVE servers, clients (ours and the
    supervisor's control socket) get through, a plain peer does not; restarts keep the keys."""
    saved = tmp_path / "seen-registration.json"
    install_spec(
        jupyter_path, "hs-curve", "--iopub-output", "--save-registration", str(saved),
        metadata={"supported_encryption": ["curve"]},
    )  # fmt: skip
    km = KernelManager(kernel_name="hs-curve", transport_encryption=policy)
    km.start_kernel()
    try:
        argv = kernel_argv(km)
        assert argv[argv.index("-f") + 1].endswith("-registration.json")  # the handshake ran
        keys = check_encrypted_kernel(km, saved)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            reply, out = run_with_output(kc, "print('through curve', 6 * 7)")
            assert reply["content"]["status"] == "ok"
            assert out == "through curve 42\n"
        finally:
            kc.stop_channels()
        first_ports = [getattr(km, n) for n in PORTS]
        saved.unlink()

        km.restart_kernel()  # a new handshake and new ports, the same keypair (security.md)
        assert saved.exists()  # the new incarnation read a new registration file
        assert check_encrypted_kernel(km, saved) == keys
        assert [getattr(km, n) for n in PORTS] != first_ports
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=30)
            reply, out = run_with_output(kc, "print('x' in dir())")  # a new process
            assert reply["content"]["status"] == "ok" and out == "False\n"
        finally:
            kc.stop_channels()
    finally:
        km.shutdown_kernel()
    # The polite shutdown_request went over the KernelActor's own (CURVE) control socket.
    assert km._shutdown_status.name == "ShutdownRequest"
    assert not km.is_alive()


def test_handshake_curve_required_without_declaration_fails(jupyter_path: Path) -> None:
    """``required`` with a handshake kernelspec that does not declare curve: refused before a
    registration socket is bound or a file written (the leak check sees no socket or file)."""
    install_spec(jupyter_path, "hs-plain")
    km = KernelManager(kernel_name="hs-plain", transport_encryption="required")
    with pytest.raises(RuntimeError, match="does not declare 'curve'"):
        km.start_kernel()
    assert not km.has_kernel and km.curve_publickey is None
    km.cleanup_resources()


def test_handshake_curve_auto_without_declaration_is_plain(
    jupyter_path: Path, tmp_path: Path
) -> None:
    """``auto`` and a handshake kernelspec without the declaration: no keys anywhere, and the
    kernel answers a plain peer (the contrast that makes the encrypted test's silence mean
    something)."""
    saved = tmp_path / "seen-registration.json"
    install_spec(jupyter_path, "hs-plain", "--save-registration", str(saved))
    km = KernelManager(kernel_name="hs-plain", transport_encryption="auto")
    km.start_kernel()
    try:
        assert curve_keys(json.loads(saved.read_text())) == {}
        check_connection_file(km, tmp_path)  # exactly the classic keys: no curve_*
        assert km.curve_publickey is None
        assert shell_probe(km, None, 30.0) is not None
    finally:
        km.shutdown_kernel()
