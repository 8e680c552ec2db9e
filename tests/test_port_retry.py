"""A port taken between our choice and the kernel's bind: noticed, named, and retried.

docs/ports.md: with manager-chosen ports, something else can bind a port in the window before
the kernel does; the kernel then dies at start-up. The kernel actor test-binds the dead
kernel's ports, logs which channel's port is held, and the restart uses a fresh port for it.
The squatting here is deterministic: a LocalProvisioner subclass binds the shell port itself
right after ``pre_launch`` chose it (first launch only).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import trio
from kernel_helpers import minimal_kernelspec_manager

from jupyter_client._lifecycle import await_future
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.provisioning import LocalProvisioner
from jupyter_client.supervisor.port_probe import held_ports

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def _squat(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((ip, port))
    sock.listen()
    return sock


class SquattingProvisioner(LocalProvisioner):
    """Binds the shell port the manager chose before the kernel can (first launch only)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.squatter: socket.socket | None = None
        self.squatted: int | None = None
        self.post_launches = 0

    async def pre_launch(self, **kwargs: object) -> dict[str, object]:
        out = await super().pre_launch(**kwargs)
        if self.squatter is None:
            self.squatted = int(self.connection_info["shell_port"])
            self.squatter = _squat(str(self.connection_info["ip"]), self.squatted)
        return out

    async def post_launch(self, **kwargs: object) -> None:
        self.post_launches += 1
        await super().post_launch(**kwargs)


def test_held_ports_names_the_squatted_channel() -> None:
    taken = _squat("127.0.0.1", 0)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()  # a port nobody holds now
    try:
        info = {"ip": "127.0.0.1", "transport": "tcp", "shell_port": taken.getsockname()[1],
                "iopub_port": free_port}  # fmt: skip
        assert held_ports(info) == {"shell": taken.getsockname()[1]}
        assert held_ports({**info, "transport": "ipc"}) == {}
    finally:
        taken.close()


def test_squatted_port_is_logged_and_the_restart_uses_a_fresh_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chosen: list[SquattingProvisioner] = []

    async def main() -> None:
        km = AsyncIOLoopKernelManager(
            kernel_name="minimal", kernel_spec_manager=minimal_kernelspec_manager(tmp_path)
        )
        km.kernel_id = "squat-test"
        prov = SquattingProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        km.provisioner = prov
        restarts: list[int] = []
        chosen.append(prov)
        try:
            await km.start_kernel()
            km.add_restart_callback(lambda: restarts.append(km.shell_port))
            with trio.fail_after(60):
                while prov.post_launches < 2:  # the relaunch went through start_kernel
                    await trio.sleep(0.01)
                await await_future(km.ready)
            assert restarts == [prov.squatted]  # the callback ran before the ports changed
            assert km.shell_port != prov.squatted
            assert json.loads(Path(km.connection_file).read_text())["shell_port"] == km.shell_port
            kc = km.client()  # made after ready: the new connection info
            kc.start_channels()
            try:
                with trio.fail_after(30):
                    await kc.wait_for_ready(timeout=30)
                    reply = await kc.kernel_info(reply=True, timeout=30)
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
        finally:
            await km.shutdown_kernel(now=True)
            if prov.squatter is not None:
                prov.squatter.close()

    with caplog.at_level("WARNING"):
        trio.run(main)
    squatted = [
        r.getMessage() for r in caplog.records if "held by another process" in r.getMessage()
    ]
    assert squatted, caplog.text
    port = chosen[0].squatted
    assert f"kernel squat-test died during start-up and its shell port {port} " in squatted[0]
