"""Start and stop a real ipykernel for tests, and open our channel actors to it.

Reusable by any test module (``from kernel_helpers import ...``; pytest puts ``tests/`` on
``sys.path``). Everything is cleaned up on exit, as the suite's leak check demands: the kernel
process (terminated, then killed, and reaped), its connection file and log, and for
:func:`kernel_channels` every actor, socket and the zmq context.

Typical use::

    def test_x(kernel_python):
        with running_kernel(kernel_python) as kernel:
            async def main():
                async with kernel_channels(kernel.info) as ch:
                    await ch.wait_ready()
                    reply = await ch.shell.request(ch.session.msg("kernel_info_request"))
            trio.run(main)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from jupyter_client.actors.channels import ChannelActor
from jupyter_client.actors.heartbeat import HeartbeatActor
from jupyter_client.actors.iopub import IOPubActor
from jupyter_client.actors.wire import channel_url
from jupyter_client.actors.zsocket import ZContext
from jupyter_client.protocol.ports import default_allocator
from jupyter_client.protocol.session import SessionCore

PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")

#: A cell to interrupt in ipykernel. Wait for its ``SLEEPING`` stream before the interrupt:
#: ipykernel publishes ``execute_input`` *before* user code runs, and a SIGINT that lands
#: in its handler outside user code is caught there ("KeyboardInterrupt caught in kernel.")
#: and the execute_reply is never sent. Once the print is out, the cell is inside user code
#: until interrupted, so one interrupt is enough; repeating it could hit that window again.
SLEEPING = "cell-is-sleeping"
SLEEP_CELL = f"import time; print({SLEEPING!r}, flush=True); time.sleep(60)"


def is_sleeping(msg: dict[str, Any], msg_id: str) -> bool:
    """True for the stream output of :data:`SLEEP_CELL` run as ``msg_id``."""
    return (
        msg["msg_type"] == "stream"
        and msg["parent_header"].get("msg_id") == msg_id
        and SLEEPING in msg["content"].get("text", "")
    )


@dataclass
class KernelProcess:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    connection_file: Path
    log_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """The kernel's stdout+stderr so far (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def pause(self) -> None:
        """SIGSTOP: the process (heartbeat thread included) stops answering, but lives."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate (kill after ``timeout``), reap, and remove the files."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                self.proc.terminate()
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
            except ProcessLookupError:
                self.proc.wait(timeout)
        for path in (self.connection_file, self.log_file):
            path.unlink(missing_ok=True)
        try:
            self.connection_file.parent.rmdir()
        except OSError:
            pass


def write_connection_info(directory: Path, ip: str = "127.0.0.1") -> tuple[Path, dict[str, Any]]:
    """A connection file with five free ports and a fresh key."""
    ports = default_allocator().allocate(ip, len(PORT_NAMES))
    info: dict[str, Any] = dict(zip(PORT_NAMES, ports, strict=True))
    info.update(
        ip=ip,
        key=uuid.uuid4().hex,
        transport="tcp",
        signature_scheme="hmac-sha256",
        kernel_name="python3",
    )
    path = directory / f"kernel-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(info))
    return path, info


def start_kernel(kernel_python: str, *, extra_args: tuple[str, ...] = ()) -> KernelProcess:
    """Launch ``ipykernel_launcher`` from a scratch directory (never from the repo)."""
    directory = Path(tempfile.mkdtemp(prefix="jc-test-kernel-"))
    connection_file, info = write_connection_info(directory)
    log_file = directory / "kernel.log"
    env = dict(os.environ)
    env.pop("JPY_PARENT_PID", None)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [kernel_python, "-m", "ipykernel_launcher", "-f", str(connection_file), *extra_args],
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return KernelProcess(proc, info, connection_file, log_file)


@contextmanager
def running_kernel(kernel_python: str) -> Iterator[KernelProcess]:
    kernel = start_kernel(kernel_python)
    try:
        yield kernel
    finally:
        kernel.stop()


def make_session(info: dict[str, Any]) -> SessionCore:
    return SessionCore(key=info["key"].encode(), signature_scheme=info["signature_scheme"])


@dataclass
class Channels:
    """The five channel actors of one client, running in one nursery."""

    ctx: ZContext
    session: SessionCore
    shell: ChannelActor
    control: ChannelActor
    stdin: ChannelActor
    iopub: IOPubActor
    hb: HeartbeatActor
    extra: dict[str, Any] = field(default_factory=dict)

    async def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Upstream's ``wait_for_ready`` without its fixed sleeps: nudge with
        ``kernel_info`` until the shell replies and IOPub has delivered something (so the
        subscription is live). Returns the kernel_info reply."""
        with trio.fail_after(timeout):
            while True:
                msg = self.session.msg("kernel_info_request")
                with trio.move_on_after(1.0):
                    reply = await self.shell.request(msg)
                    with trio.move_on_after(1.0):
                        await self.iopub.received.wait_value(lambda n: n > 0)
                        return reply


@asynccontextmanager
async def kernel_channels(
    info: dict[str, Any], *, time_to_dead: float = 1.0
) -> AsyncIterator[Channels]:
    """Start shell/control/stdin/iopub/hb actors for ``info``; stop them all on exit."""
    session = make_session(info)
    identity = session.bsession
    async with ZContext() as ctx, trio.open_nursery() as nursery:
        ch = Channels(
            ctx=ctx,
            session=session,
            shell=ChannelActor(ctx, session, channel_url(info, "shell"), identity=identity),
            control=ChannelActor(
                ctx, session, channel_url(info, "control"), name="control", identity=identity
            ),
            stdin=ChannelActor(
                ctx, session, channel_url(info, "stdin"), name="stdin", identity=identity
            ),
            iopub=IOPubActor(ctx, session, channel_url(info, "iopub")),
            hb=HeartbeatActor(ctx, channel_url(info, "hb"), time_to_dead=time_to_dead),
        )
        actors = (ch.iopub, ch.shell, ch.stdin, ch.hb, ch.control)  # upstream's start order
        for actor in actors:
            await nursery.start(actor.run)
        try:
            yield ch
        finally:
            for actor in actors:
                actor.cancel()


MINIMAL_KERNEL = str(Path(__file__).with_name("kernels") / "minimal_kernel.py")


def minimal_kernelspec_manager(tmp_path: Path, *flags: str) -> Any:
    """A KernelSpecManager whose only kernel, ``minimal``, is tests/kernels/minimal_kernel.py
    (run with ``flags``)."""
    from jupyter_client.kernelspec import KernelSpecManager

    d = tmp_path / "kernels" / "minimal"
    d.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}", *flags],
        "display_name": "minimal",
        "language": "python",
    }
    (d / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])


def run_json(python: str, *argv: str, timeout: float = 90, last_line: bool = False) -> Any:
    """Run ``python *argv`` in a fresh interpreter; the JSON it printed (its last line only,
    with ``last_line``). Fails with the interpreter's stderr if it exits non-zero.

    From ``/`` and without PYTHONPATH, so that the kernel venv's python cannot pick up our
    package from the checkout instead of upstream's."""
    proc = subprocess.run(
        [python, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert proc.returncode == 0, f"{python}:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1] if last_line else proc.stdout)


def run_under_upstream(kernel_python: str, script: str, *args: str) -> Any:
    """Run ``script`` with the kernel venv's python (upstream jupyter_client), JSON out."""
    return run_json(kernel_python, "-c", script, *args, timeout=60)


def own_public_callables(mod: Any) -> list[str]:
    """Public functions and classes defined in ``mod`` itself, sorted."""
    return sorted(
        n
        for n, v in vars(mod).items()
        if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == mod.__name__
    )
