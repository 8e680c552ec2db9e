"""Supervised kernels no other local user can reach (issue: a supervisor nothing can take down,
finding 10): ``serve --transport ipc`` (unix sockets in the 0700 runtime dir, no TCP port)
and ``serve --encryption required|auto`` (CurveZMQ keys per kernel, kept across restarts and
re-adoption). The supervisor's own sockets to the kernel (control, heartbeat, the IOPub status
watcher) speak CURVE too. Real supervisor, the purpose-built kernel (a CURVE server when its
connection file has keys, as ipykernel >= 7.3)."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import zmq
from kernels.support import MINIMAL_KERNEL
from supervisor_helpers import Harness, running_harness, wait_for

from jupyter_client import BlockingKernelClient

pytestmark = pytest.mark.timeout(180)


def _curve_spec(h: Harness, name: str = "secure", declare: bool = True) -> None:
    d = h.jpath / "kernels" / name
    d.mkdir(parents=True, exist_ok=True)
    spec: dict[str, Any] = {"argv": [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}"],
                            "display_name": name, "language": "python"}  # fmt: skip
    if declare:
        spec["metadata"] = {"supported_encryption": ["curve"]}
    (d / "kernel.json").write_text(json.dumps(spec))


def _info(h: Harness, kid: str) -> dict[str, Any]:
    return dict(json.loads((h.runtime / f"kernel-{kid}.json").read_text()))


def _execute(info: dict[str, Any]) -> None:
    kc = BlockingKernelClient()
    kc.load_connection_info(info)
    kc.start_channels()
    try:
        reply = kc.execute("1", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()


def _watcher_saw_activity(h: Harness, kid: str, info: dict[str, Any]) -> None:
    """The supervisor's IOPub watcher receives the kernel's messages (its last_activity moves
    with an execution): over CURVE it must be a CURVE client to see anything."""
    before = h.row(kid)["last_activity"]
    time.sleep(0.05)
    _execute(info)
    wait_for(lambda: (h.row(kid)["last_activity"] or 0) > (before or 0), timeout=15,
             what="the watcher seeing the execution")  # fmt: skip


def test_ipc_transport_listens_on_no_tcp_port(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        h.serve("--transport", "ipc")
        kid = h.start("minimal", "--id", "k")
        wait_for(lambda: h.row(kid)["state"] == "idle", what="idle")
        info = _info(h, kid)
        assert info["transport"] == "ipc"
        assert os.path.dirname(info["ip"]) == str(h.runtime)
        socks = [f"{info['ip']}-{info[p]}" for p in ("shell_port", "iopub_port", "stdin_port",
                                                      "control_port", "hb_port")]  # fmt: skip
        assert all(stat.S_ISSOCK(os.stat(s).st_mode) for s in socks)
        assert stat.S_IMODE(os.stat(h.runtime).st_mode) == 0o700
        pid = h.row(kid)["pid"]
        tcp = [c for c in psutil.Process(pid).net_connections(kind="inet")
               if c.status == psutil.CONN_LISTEN]  # fmt: skip
        assert tcp == []
        _watcher_saw_activity(h, kid, info)
        h.cli("restart", kid)
        wait_for(lambda: h.row(kid)["state"] == "idle" and h.row(kid)["pid"] != pid,
                 what="restarted")  # fmt: skip
        _execute(_info(h, kid))
        h.cli("stop", kid)
        assert not any(os.path.exists(s) for s in socks)


def test_encryption_required_end_to_end(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        _curve_spec(h)
        h.serve("--encryption", "required")
        kid = h.start("secure", "--id", "k")
        wait_for(lambda: h.row(kid)["state"] == "idle", what="idle (heartbeat over CURVE)")
        info = _info(h, kid)
        assert len(info["curve_publickey"]) == 40 and len(info["curve_secretkey"]) == 40
        _watcher_saw_activity(h, kid, info)
        # an eavesdropper without the kernel's key receives nothing, not even ciphertext
        ctx: zmq.Context[Any] = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.subscribe(b"")
        sub.connect(f"tcp://{info['ip']}:{info['iopub_port']}")
        time.sleep(0.3)
        _execute(info)
        assert sub.poll(500) == 0
        sub.close()
        ctx.term()
        # restarts keep the keys (clients made earlier keep working)
        h.cli("restart", kid)
        wait_for(lambda: h.row(kid)["state"] == "idle", what="restarted")
        assert _info(h, kid)["curve_publickey"] == info["curve_publickey"]
        # re-adoption speaks CURVE: heartbeat (idle), control (interrupt), the watcher
        h.kill_supervisor()
        h.serve("--encryption", "required")
        assert "1 kernel(s) re-adopted" in h.ready_line
        wait_for(lambda: h.row(kid)["state"] == "idle", what="adopted, idle")
        h.cli("interrupt", kid)
        _watcher_saw_activity(h, kid, _info(h, kid))


def test_required_refuses_a_kernelspec_without_curve(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        _curve_spec(h, "plain", declare=False)
        h.serve("--encryption", "required")
        out = h.cli("start", "plain", check=False)
        assert out.returncode == 1
        assert "does not declare 'curve'" in out.stderr
        assert h.status() == [] and not list(h.runtime.glob("kernel-*"))


def test_auto_follows_the_kernelspec(tmp_path: Path) -> None:
    with running_harness(tmp_path) as h:
        _curve_spec(h, "secure")
        _curve_spec(h, "plain", declare=False)
        h.serve("--encryption", "auto")
        a, b = h.start("secure", "--id", "a"), h.start("plain", "--id", "b")
        wait_for(lambda: all(r["state"] == "idle" for r in h.status()), what="both idle")
        assert "curve_publickey" in _info(h, a) and "curve_publickey" not in _info(h, b)
