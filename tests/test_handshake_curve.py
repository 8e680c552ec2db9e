"""The registration handshake with CurveZMQ transport encryption: the keys travel in the
registration file, the kernel's sockets become CURVE servers, a plain peer gets nothing.

Split from test_handshake.py (shared helpers in handshake_helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zmq
from handshake_helpers import (
    PORTS,
    check_connection_file,
    install_spec,
    kernel_argv,
)

from jupyter_client.manager import KernelManager
from jupyter_client.protocol.session import SessionCore

pytestmark = pytest.mark.timeout(120)

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
