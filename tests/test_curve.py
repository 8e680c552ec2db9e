"""Transport encryption (CurveZMQ) against the real ipykernel, parity with upstream 8.9.

The kernelspec ``python3`` declares ``metadata.supported_encryption: ["curve"]``; ipykernel
7.4 then makes every bound socket a CURVE server when the connection file carries keys. The
tests check both sides: our clients (blocking, async under trio and asyncio, the KernelActor's
control socket and heartbeat, upstream's client) work through the encryption, and a plain,
unauthenticated SUB on the IOPub port sees nothing at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
import zmq
from kernel_helpers import write_connection_info
from traitlets import TraitError

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.ioloop import IOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.protocol.curve import curve_wanted, spec_supports_curve, supported_encryption
from jupyter_client.supervisor.kernel import KernelActor, LaunchSpec

pytestmark = pytest.mark.timeout(120)

WARNING = "without encryption"
REQUIRED_MSG = (
    "transport_encryption='required' but kernelspec does not declare 'curve' in "
    "`metadata.supported_encryption`."
)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def _spec_copy(tmp_path: Path, name: str, **metadata: Any) -> KernelSpecManager:
    """A KernelSpecManager knowing ``name``: the python3 spec with ``metadata`` replaced."""
    ksm = KernelSpecManager()
    spec = ksm.get_kernel_spec("python3").to_dict()
    spec["metadata"] = metadata
    d = tmp_path / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels"), *ksm.kernel_dirs])


def _run_code(kc: Any, code: str) -> dict[str, Any]:
    return kc.execute_interactive(code, timeout=30, output_hook=lambda m: None)  # type: ignore[no-any-return]


def _file_keys(km: KernelManager) -> dict[str, str]:
    info = json.loads(Path(km.connection_file).read_text())
    return {k: v for k, v in info.items() if k.startswith("curve_")}


def _sniff_iopub(
    km: KernelManager, kc: BlockingKernelClient, marker: str, duration: float
) -> bytes:
    """Everything a plain SUB (no CURVE settings) receives on IOPub while ``marker`` is
    printed repeatedly for up to ``duration`` s (stops early once the marker is seen)."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.subscribe(b"")
    sub.connect(f"tcp://{km.ip}:{km.iopub_port}")
    seen = b""
    try:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and marker.encode() not in seen:
            _run_code(kc, f"print({marker!r})")
            while sub.poll(100):
                seen += b"".join(sub.recv_multipart())
    finally:
        sub.close()
        ctx.term()
    return seen


@pytest.mark.parametrize("policy", ["required", "auto", "disabled"])
def test_blocking_client_and_eavesdropper(tmp_path: Path, policy: str) -> None:
    log = tmp_path / "kernel.log"
    # 30 s: the polite step is asserted below; a loaded machine must not turn it into SIGTERM
    km = KernelManager(kernel_name="python3", transport_encryption=policy, shutdown_wait_time=30)
    with log.open("w") as stderr:
        km.start_kernel(stderr=stderr)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        keys = _file_keys(km)
        marker = f"secret-{uuid.uuid4().hex}"
        # Plain: until seen (a slow machine may take a while to subscribe); encrypted: a
        # fixed 3 s window in which a plain subscriber would have been live many times over.
        seen = _sniff_iopub(km, kc, marker, 30.0 if policy == "disabled" else 3.0)
        assert _run_code(kc, "1 + 1")["content"]["status"] == "ok"
        deadline = time.monotonic() + 10
        while not kc.hb_channel.is_beating() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kc.is_alive() and kc.hb_channel.is_beating()
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    if policy == "disabled":
        assert keys == {} and km.curve_publickey is None
        assert marker.encode() in seen  # the sniffer works: plain text is visible
        assert WARNING in log.read_text()
    else:
        assert set(keys) == {"curve_publickey", "curve_secretkey"}
        assert all(len(v) == 40 for v in keys.values())
        assert km.curve_publickey == keys["curve_publickey"].encode()
        assert seen == b""  # CURVE drops the unauthenticated peer: not even ciphertext
        assert WARNING not in log.read_text()
    # The polite shutdown_request went over the KernelActor's own (CURVE) control socket.
    assert km._shutdown_status.name == "ShutdownRequest"


def test_async_client_under_trio_restart_keeps_keys() -> None:
    async def main() -> None:
        km = AsyncKernelManager(kernel_name="python3")
        await km.start_kernel(transport_encryption="auto")
        assert km.transport_encryption == "auto"
        kc = km.client()
        assert isinstance(kc, AsyncKernelClient)
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            keys = _file_keys(km)
            assert len(keys) == 2
            reply = await kc.execute_interactive("x = 6 * 7", timeout=30)
            assert reply["content"]["status"] == "ok"
            await km.restart_kernel()
            assert _file_keys(km) == keys  # upstream 8.9.1: one keypair per manager
            await kc.wait_for_ready(timeout=60)
            reply = await kc.execute_interactive("print(1)", timeout=30)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    trio.run(main)


def test_async_client_under_asyncio_ipc(tmp_path: Path) -> None:
    async def main() -> None:
        km = AsyncKernelManager(
            kernel_name="python3", transport="ipc", ip=str(tmp_path / "k"),
            transport_encryption="required",
        )  # fmt: skip
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            assert len(_file_keys(km)) == 2
            reply = await kc.execute_interactive("1", timeout=30)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    asyncio.run(main())


def test_required_without_declaration_fails(tmp_path: Path) -> None:
    ksm = _spec_copy(tmp_path, "plain")
    km = KernelManager(kernel_name="plain", kernel_spec_manager=ksm)
    with pytest.raises(RuntimeError) as info:
        km.start_kernel(transport_encryption="required")
    assert str(info.value) == REQUIRED_MSG
    assert not km.has_kernel and km.curve_publickey is None


def test_auto_without_declaration_writes_no_keys(tmp_path: Path) -> None:
    ksm = _spec_copy(tmp_path, "plain")
    km = KernelManager(kernel_name="plain", kernel_spec_manager=ksm, transport_encryption="auto")
    km.start_kernel()
    try:
        assert _file_keys(km) == {} and km.curve_publickey is None
    finally:
        km.shutdown_kernel(now=True)


def test_policy_trait(monkeypatch: pytest.MonkeyPatch) -> None:
    km = KernelManager()
    assert km.transport_encryption == "disabled"
    km.transport_encryption = "REQUIRED"
    assert km.transport_encryption == "required"
    with pytest.raises(TraitError):
        km.transport_encryption = "always"
    monkeypatch.setattr(zmq, "has", lambda feature: False)
    for value in ("auto", "required"):
        with pytest.raises(TraitError, match=r"zmq\.has\('curve'\)"):
            KernelManager(transport_encryption=value)
    KernelManager(transport_encryption="disabled")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["curve"], True),
        (" Curve ", True),
        (("tls", "CURVE"), True),
        ({"curve"}, True),
        ("curvezmq", False),
        ([], False),
        (None, False),
        (5, False),
    ],
)
def test_supported_encryption_parsing(value: Any, expected: bool) -> None:
    metadata = {} if value is None else {"supported_encryption": value}
    assert spec_supports_curve(metadata) is expected
    assert curve_wanted("auto", metadata) is expected
    assert curve_wanted("required", metadata) and not curve_wanted("disabled", metadata)
    assert supported_encryption(None) == set()


@pytest.mark.parametrize("as_str", [True, False])
def test_client_takes_keys_as_str_or_bytes(as_str: bool) -> None:
    public, secret = zmq.curve_keypair()
    pub: str | bytes = public.decode() if as_str else public
    sec: str | bytes = secret.decode() if as_str else secret
    kc = BlockingKernelClient(curve_publickey=pub, curve_secretkey=sec)
    assert kc.curve_publickey == public and kc.curve_secretkey == secret
    info = kc.get_connection_info()
    assert info["curve_publickey"] == public.decode()
    other = BlockingKernelClient()
    other.load_connection_info(info)
    assert other.curve_secretkey == secret


def test_kernel_actor_control_and_heartbeat(kernel_python: str) -> None:
    """The supervisor's own sockets (heartbeat, control DEALER) are CURVE clients too."""
    directory = Path(tempfile.mkdtemp(prefix="jc-test-curve-"))
    path, info = write_connection_info(directory)
    public, secret = zmq.curve_keypair()
    info.update(curve_publickey=public.decode(), curve_secretkey=secret.decode())
    path.write_text(json.dumps(info))
    env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    argv = [kernel_python, "-m", "ipykernel_launcher", "-f", str(path)]

    async def prepare(newports: bool) -> LaunchSpec:
        return LaunchSpec(argv, info, env=env, cwd=str(directory))

    async def main() -> None:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                k = KernelActor("curve", prepare, heartbeat=0.2, interrupt_mode="message",
                                shutdown_wait_time=30.0)  # fmt: skip
                await nursery.start(k.run)
                await k.start()
                while not k.is_beating():
                    await trio.sleep(0.02)
                assert await k.shutdown() == "request"
                await k.stop()

    try:
        trio.run(main)
    finally:
        path.unlink(missing_ok=True)
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()


UPSTREAM_CLIENT = """
import sys
from jupyter_client import BlockingKernelClient
kc = BlockingKernelClient()
kc.load_connection_file(sys.argv[1])
assert kc.curve_publickey, "no curve key in the connection file"
kc.start_channels()
try:
    kc.wait_for_ready(timeout=30)
    out = []
    reply = kc.execute_interactive(
        "print(6 * 7)", timeout=30,
        output_hook=lambda m: out.append(m["content"].get("text", "")),
    )
    print(reply["content"]["status"], "".join(out).strip())
finally:
    kc.stop_channels()
"""


def test_upstream_client_interop(kernel_python: str) -> None:
    km = KernelManager(kernel_name="python3", transport_encryption="required")
    km.start_kernel()
    try:
        proc = subprocess.run(
            [kernel_python, "-c", UPSTREAM_CLIENT, km.connection_file],
            cwd="/", capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        km.shutdown_kernel()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "42"]
    assert sys.executable != kernel_python


def test_automatic_restart_keeps_keys() -> None:
    """A SIGKILLed kernel relaunched by the supervisor gets the same keypair, so the
    connected client (whose sockets are CURVE clients of that key) keeps working."""
    km = IOLoopKernelManager(kernel_name="python3", transport_encryption="required")
    km.start_kernel()
    restarts: list[int] = []
    km.add_restart_callback(lambda: restarts.append(1))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        keys = _file_keys(km)
        pid = km.provisioner.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not (restarts and km.is_alive() and km.provisioner.pid != pid):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no automatic restart"
            time.sleep(0.05)
        assert _file_keys(km) == keys
        kc.wait_for_ready(timeout=60)
        assert _run_code(kc, "1")["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
