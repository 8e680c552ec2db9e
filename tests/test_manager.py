"""KernelManager / AsyncKernelManager against the real ipykernel (kernelspec ``python3``).

Every scenario shuts its kernel down; the suite's leak check verifies no process, thread or fd
is left. Scenarios run blocking, under asyncio.run and under trio.run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from kernel_helpers import SLEEP_CELL, is_sleeping

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager, KernelManager, run_kernel, start_new_kernel

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def _spec_copy(tmp_path: Path, name: str, **changes: Any) -> KernelSpecManager:
    """A KernelSpecManager that knows ``name``: the python3 spec with ``changes`` applied."""
    ksm = KernelSpecManager()
    spec = ksm.get_kernel_spec("python3").to_dict()
    spec.update(changes)
    d = tmp_path / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels"), *ksm.kernel_dirs])


def _run_code(kc: Any, code: str) -> dict[str, Any]:
    return kc.execute_interactive(code, timeout=30, output_hook=lambda m: None)  # type: ignore[no-any-return]


def test_blocking_start_execute_shutdown() -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    assert km.has_kernel and km.is_alive()
    assert km.ready.done()
    kc = km.client()
    assert kc.parent is km
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        assert _run_code(kc, "x = 1")["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert not km.has_kernel and not km.is_alive()
    assert not os.path.exists(km.connection_file)


def test_restart_same_id_and_working() -> None:
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kid, pid = km.kernel_id, km.provisioner.pid  # type: ignore[union-attr]
        km.restart_kernel()
        assert km.kernel_id == kid and km.provisioner.pid != pid  # type: ignore[union-attr]
        kc.wait_for_ready(timeout=60)
        assert _run_code(kc, "1")["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _interrupt_running_cell(km: Any, kc: Any) -> dict[str, Any]:
    """Run :data:`SLEEP_CELL`, interrupt it through ``km`` once it is inside user code, and
    return the execute_reply (see ``kernel_helpers.SLEEP_CELL`` for why one interrupt)."""
    msg_id = kc.execute(SLEEP_CELL)
    deadline = time.monotonic() + 30
    while not is_sleeping(kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic())),
                          msg_id):  # fmt: skip
        pass
    km.interrupt_kernel()
    return kc._recv_reply(msg_id, timeout=30)  # type: ignore[no-any-return]


def test_interrupt_signal_mode() -> None:
    with run_kernel(kernel_name="python3") as kc:
        reply = _interrupt_running_cell(kc.parent, kc)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]  # all of it


def test_interrupt_message_mode(tmp_path: Path) -> None:
    ksm = _spec_copy(tmp_path, "py-msg", interrupt_mode="message")
    km = KernelManager(kernel_name="py-msg", kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        reply = _interrupt_running_cell(km, kc)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def test_signal_kernel_and_sigkill_is_noticed_at_once() -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    try:
        km.signal_kernel(signal.SIGKILL)
        deadline = time.monotonic() + 10  # milliseconds when quiet; bounded for a loaded CI
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert not km.is_alive()
    finally:
        km.shutdown_kernel()


def test_errors() -> None:
    km = KernelManager(kernel_name="no-such-kernel-here")
    with pytest.raises(NoSuchKernel):
        km.start_kernel()
    km = KernelManager(kernel_name="python3")
    with pytest.raises(RuntimeError, match="No previous call to 'start_kernel'"):
        km.restart_kernel()
    with pytest.raises(RuntimeError, match=r"Cannot signal kernel\. No kernel is running!"):
        km.signal_kernel(signal.SIGINT)
    with pytest.raises(RuntimeError, match=r"Cannot interrupt kernel\. No kernel is running!"):
        km.interrupt_kernel()


def test_missing_executable_is_named(tmp_path: Path) -> None:
    ksm = _spec_copy(
        tmp_path, "broken", argv=["/nonexistent/kernel-binary", "-f", "{connection_file}"]
    )
    km = KernelManager(kernel_name="broken", kernel_spec_manager=ksm)
    with pytest.raises(FileNotFoundError, match="/nonexistent/kernel-binary"):
        km.start_kernel()
    km.cleanup_resources()


def test_wait_for_ready_names_how_the_kernel_died(tmp_path: Path) -> None:
    """Upstream says only "Kernel died before replying to kernel_info"; ours adds the exit
    (pain point: start-up failures surface without their cause)."""
    code = "import sys; sys.exit(3)"
    ksm = _spec_copy(tmp_path, "dies", argv=[sys.executable, "-c", code, "{connection_file}"])
    km = KernelManager(kernel_name="dies", kernel_spec_manager=ksm)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        with pytest.raises(RuntimeError, match=r"^Kernel died before replying to kernel_info "
                           r"\(exit code 3\)$"):  # fmt: skip
            kc.wait_for_ready(timeout=30)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_death_ends_a_wait_for_the_reply() -> None:
    """Upstream's execute_interactive without a timeout waits forever for a kernel that
    died; ours raises at the death, naming it (blocking client)."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        with pytest.raises(
            RuntimeError, match=r"^Kernel died before replying to execute_request \(exit code 7\)$"
        ):
            kc.execute_interactive("import os; os._exit(7)", output_hook=lambda m: None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_death_ends_a_wait_and_the_restarted_kernel_answers() -> None:
    """Async client of an autorestarting manager: ``execute(reply=True)`` with no timeout
    raises when the kernel is SIGKILLed; the same client then runs code on the restarted
    kernel (our own restarts and shutdowns never raise it: they are not deaths)."""
    from jupyter_client.ioloop import AsyncIOLoopKernelManager

    async def main() -> None:
        km = AsyncIOLoopKernelManager(kernel_name="python3")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
            with pytest.raises(RuntimeError, match=r"\(killed by SIGKILL\)$"):
                await asyncio.wait_for(kc.execute(code, reply=True), 60)
            await asyncio.wait_for(kc.wait_for_ready(timeout=60), 60)
            await km.restart_kernel()  # ours: not a death
            reply = await kc.execute_interactive("1 + 1", timeout=60)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    asyncio.run(main())


def test_format_kernel_cmd_and_update_env() -> None:
    km = KernelManager(kernel_name="python3")
    km._launch_args = {"env": {"A": "1"}, "extra": "x"}
    cmd = km.format_kernel_cmd(extra_arguments=["{extra}", "{unknown}"])
    assert cmd[-2:] == ["x", "{unknown}"]
    assert os.path.realpath(km.connection_file) in cmd or "{connection_file}" not in " ".join(cmd)
    km.update_env(env={"B": "2"})
    assert km._launch_args["env"] == {"A": "1", "B": "2"}
    assert km.ipykernel
    assert KernelManager(kernel_name="python").kernel_name == "python3"
    km.context.destroy()


def test_async_asyncio() -> None:
    async def main() -> None:
        km = AsyncKernelManager(kernel_name="python3")
        fut = km.ready
        await km.start_kernel()
        assert fut.done()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            assert await km.is_alive()
            await km.restart_kernel()
            await kc.wait_for_ready(timeout=60)
            reply = await kc.execute("1", reply=True, timeout=30)
            assert reply["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        assert not await km.is_alive()

    asyncio.run(main())


def test_async_trio_context_manager_and_cancellation() -> None:
    async def main() -> None:
        async with AsyncKernelManager(kernel_name="python3") as km:
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=60)
                reply = await kc.execute("1", reply=True, timeout=30)
                assert reply["content"]["status"] == "ok"
            finally:
                kc.stop_channels()
        assert not km.has_kernel
        # cancellation inside the block stops the kernel too
        with trio.move_on_after(0.5):
            async with AsyncKernelManager(kernel_name="python3") as km2:
                await trio.sleep_forever()
        assert not km2.has_kernel

    trio.run(main)


def test_graceful_shutdown_is_event_driven() -> None:
    km = KernelManager(kernel_name="python3", shutdown_wait_time=30)  # polite, even under load
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    kc.stop_channels()
    km.shutdown_kernel()
    from jupyter_client._manager_lifecycle import _ShutdownStatus

    assert km._shutdown_status is _ShutdownStatus.ShutdownRequest


def test_independent_and_cwd(tmp_path: Path) -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "MARK": "yes"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        seen: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                seen.append(msg["content"]["text"])

        kc.execute_interactive(
            "import os; print(os.getcwd(), os.environ['MARK'])", timeout=30, output_hook=hook
        )
        assert "".join(seen).split() == [str(tmp_path), "yes"]
        assert km.resolve_path("x") is None
    finally:
        kc.stop_channels()
        km.shutdown_kernel()
    assert sys.executable
