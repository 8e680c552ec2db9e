"""Remote kernels through gateway_provisioners' DistributedProvisioner, over a real SSH hop.

Two hosts are network namespaces running sshd (tests/netns_hosts.py); the kernelspec is made
by gateway_provisioners' own ``jupyter-ssh-spec install --remote-hosts=A --remote-hosts=B``,
with its interpreter set to the kernel venv's python (shared filesystem, as on an NFS cluster).
GP's code runs unchanged on our base classes, in every handle style: blocking, asyncio, trio,
and MultiKernelManager (kernels spread over both hosts by GP's round robin).

What GP 0.5.0 cannot do, with upstream's jupyter_client as with ours: stop the remote kernel.
Its launcher keeps running after ``shutdown_request`` (ipykernel 6 and 7 alike), the first
SIGTERM it relays is caught by its own listener, and ``shutdown_requested`` closes the listener
that was the only way to signal it; ``poll()`` then reports an exit that did not happen.
``test_gp_cannot_stop_its_remote_kernel`` keeps that on record (strict xfail: it fails loudly
once GP fixes it). Our side leaves nothing (the leak check); the fixture kills what GP leaves
on the hosts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from netns_hosts import RemoteHosts, remote_hosts, require_netns
from traitlets.config import Config

from jupyter_client import AsyncKernelManager, KernelManager, MultiKernelManager
from jupyter_client._manager_lifecycle import supervised
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager

pytestmark = pytest.mark.timeout(180)

KERNEL_PYTHON = str(Path(__file__).resolve().parents[1] / ".venv-kernel" / "bin" / "python")
SPEC = "ssh_python"


@pytest.fixture(scope="module")
def gp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RemoteHosts, Path]]:
    """Two hosts, a GP kernelspec naming both, and GP's ResponseManager made on the asyncio
    thread before any test's leak baseline (it is a process-wide singleton with a socket)."""
    require_netns()
    pytest.importorskip("gateway_provisioners", reason="gateway_provisioners is a dev extra")
    from jupyter_client.localinterfaces import public_ips

    if not public_ips():
        pytest.skip("GP's launcher answers on a public IP of this machine; there is none")
    if not Path(KERNEL_PYTHON).exists():
        pytest.skip("the kernel venv is missing (make setup)")
    tmp = tmp_path_factory.mktemp("gp")
    saved = {k: os.environ.get(k) for k in ("HOME", "GP_UNAUTHORIZED_USERS")}
    with remote_hosts(tmp / "hosts") as hosts:
        os.environ["HOME"] = str(hosts.home)  # paramiko's key and known_hosts
        os.environ["GP_UNAUTHORIZED_USERS"] = "nobody"  # GP refuses root by default
        try:
            subprocess.run(
                [str(Path(sys.executable).with_name("jupyter-ssh-spec")), "install",
                 f"--prefix={tmp / 'spec'}", f"--kernel-name={SPEC}",
                 *(f"--remote-hosts={ip}" for ip in hosts.ips)],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            kernels = tmp / "spec" / "share" / "jupyter" / "kernels"
            kernel_json = kernels / SPEC / "kernel.json"
            spec = json.loads(kernel_json.read_text())
            spec["argv"][0] = KERNEL_PYTHON  # "python" on the host: the kernel venv's
            kernel_json.write_text(json.dumps(spec))
            _response_manager_on_asyncio_thread()
            yield hosts, kernels
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _response_manager_on_asyncio_thread() -> None:
    from gateway_provisioners.response_manager import ResponseManager

    from jupyter_client.actors.aioloop import asyncio_thread

    async def make() -> None:
        ResponseManager.instance()

    asyncio_thread().submit(make).done.result(30)


def _ksm(kernels: Path) -> KernelSpecManager:
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def _host_of(hosts: RemoteHosts, km: Any) -> int:
    """Which host runs the manager's kernel (by its connection ip)."""
    return hosts.ips.index(km.get_connection_info()["ip"])


def _remote_pid(hosts: RemoteHosts, km: Any) -> int:
    """The kernel's pid, checked to live in that host's namespace."""
    pid = int(km.provisioner.pid)
    assert pid in hosts.hosts[_host_of(hosts, km)].pids()
    return pid


def test_blocking_manager_over_ssh(gp: tuple[RemoteHosts, Path]) -> None:
    """KernelManager: start (timed), the kernel runs on a host and sees GP's env, interrupt,
    restart on the next host (round robin), shutdown."""
    hosts, kernels = gp
    km = KernelManager(kernel_name=SPEC, kernel_spec_manager=_ksm(kernels))
    t0 = time.monotonic()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        print(f"start_kernel -> ready over ssh: {time.monotonic() - t0:.2f} s")
        first = _host_of(hosts, km)
        pid = _remote_pid(hosts, km)
        reply = kc.execute_interactive(
            "import os; print(os.getpid(), os.environ['KERNEL_ID'])", timeout=30,
            output_hook=lambda m: out.append(m["content"].get("text", "")),
        ) if (out := []) is not None else None  # fmt: skip
        assert reply is not None and reply["content"]["status"] == "ok"
        assert "".join(out).split() == [str(pid), km.kernel_id]
        msg_id = kc.execute("import time; time.sleep(60)")
        time.sleep(0.5)
        km.interrupt_kernel()  # GP relays SIGINT through its listener
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()
    km.restart_kernel(now=True)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        assert _host_of(hosts, km) != first  # GP's round robin
        assert kc.execute_interactive("1", timeout=30)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def _async_round_trip(km: Any) -> Any:
    async def run() -> None:
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            reply = await kc.execute_interactive("21 * 2", timeout=30)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()

    return run


def test_async_manager_under_asyncio_over_ssh(gp: tuple[RemoteHosts, Path]) -> None:
    _hosts, kernels = gp
    km = AsyncKernelManager(kernel_name=SPEC, kernel_spec_manager=_ksm(kernels))
    asyncio.run(_async_round_trip(km)())


def test_async_manager_under_trio_over_ssh(gp: tuple[RemoteHosts, Path]) -> None:
    """Before: RuntimeError('no running event loop') -- GP's coroutines ran in trio."""
    _hosts, kernels = gp
    km = AsyncKernelManager(kernel_name=SPEC, kernel_spec_manager=_ksm(kernels))
    trio.run(_async_round_trip(km))


def test_multikernelmanager_spreads_kernels_over_both_hosts(gp: tuple[RemoteHosts, Path]) -> None:
    hosts, kernels = gp
    mkm = MultiKernelManager(kernel_spec_manager=_ksm(kernels))
    ids = [mkm.start_kernel(kernel_name=SPEC) for _ in range(2)]
    try:
        placed = {_host_of(hosts, mkm.get_kernel(kid)) for kid in ids}
        assert placed == {0, 1}
        for kid in ids:
            kc = mkm.get_kernel(kid).client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=60)
            finally:
                kc.stop_channels()
    finally:
        mkm.shutdown_all(now=True)
    assert not mkm.list_kernel_ids()


def test_sigkilled_remote_kernel_is_restarted(gp: tuple[RemoteHosts, Path]) -> None:
    """The actor polls GP's poll() (every time_to_dead): a remote kernel SIGKILLed on its host
    is a death, and the restarter brings it back through restart_kernel."""
    hosts, kernels = gp

    async def main() -> None:
        config = Config({"KernelRestarter": {"time_to_dead": 0.5}})
        km = AsyncIOLoopKernelManager(
            kernel_name=SPEC, kernel_spec_manager=_ksm(kernels), config=config
        )
        await km.start_kernel()
        restarted = trio.Event()
        km.add_restart_callback(restarted.set)
        try:
            old = _remote_pid(hosts, km)
            os.kill(old, signal.SIGKILL)  # on its host (the namespaces share our pid space)
            with trio.fail_after(60):
                await restarted.wait()
                while not km.ready.done() or km.provisioner.pid in (None, old):
                    await trio.sleep(0.05)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
            finally:
                kc.stop_channels()
            handle = supervised(km)
            assert handle is not None and handle.actor is not None
            kinds = [e.kind for e in handle.actor.events]
            assert "died" in kinds and kinds[-1] == "restarted"
            assert (km.last_exit or {}).get("reason")
        finally:
            await km.shutdown_kernel(now=True)

    trio.run(main)


@pytest.mark.xfail(
    strict=True,
    reason="gateway_provisioners 0.5.0: the launcher outlives shutdown_request and its listener "
    "eats the SIGTERM it relays; poll() then reports an exit (upstream jupyter_client too)",
)
def test_gp_cannot_stop_its_remote_kernel(gp: tuple[RemoteHosts, Path]) -> None:
    hosts, kernels = gp
    km = KernelManager(kernel_name=SPEC, kernel_spec_manager=_ksm(kernels))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    finally:
        kc.stop_channels()
    host, pid = hosts.hosts[_host_of(hosts, km)], _remote_pid(hosts, km)
    km.shutdown_kernel()
    deadline = time.monotonic() + 10
    while pid in host.pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid not in host.pids()


def test_jupyter_server_runs_remote_kernels(gp: tuple[RemoteHosts, Path], tmp_path: Path) -> None:
    """Jupyter Server (its AsyncMappingKernelManager on our AsyncIOLoopKernelManager) with a
    GP kernelspec, over REST and the kernel websocket: start, execute on the host, restart
    (the next host), delete."""
    from test_jupyter_server import _Api, _jupyter_server

    _hosts, kernels = gp
    spec = (kernels / SPEC / "kernel.json").read_text()

    async def drive(addr: str, token: str, proc: subprocess.Popen[bytes]) -> None:
        api = _Api(addr, token)
        await api.wait_up(proc)
        where = tmp_path / "data" / "kernels" / SPEC
        where.mkdir(parents=True, exist_ok=True)
        (where / "kernel.json").write_text(spec)  # the server finds specs on each request
        kernel = await api.call("POST", "/api/kernels", {"name": SPEC})
        kid = kernel["id"]
        assert any(k["id"] == kid for k in await api.call("GET", "/api/kernels"))
        async with api.channels(kid) as ch:
            reply, out = await ch.execute("import os; print(os.environ['KERNEL_ID'])")
            assert reply["content"]["status"] == "ok"
            text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
            assert text.strip() == kid
        await api.call("POST", f"/api/kernels/{kid}/restart")
        async with api.channels(kid) as ch:
            reply, _ = await ch.execute("1 + 1")
            assert reply["content"]["status"] == "ok"
        await api.call("DELETE", f"/api/kernels/{kid}")
        assert all(k["id"] != kid for k in await api.call("GET", "/api/kernels"))
        api.http.close()

    with _jupyter_server(tmp_path) as (proc, addr, token):
        asyncio.run(drive(addr, token, proc))
