"""Shared by the registration-handshake tests (test_handshake.py, test_handshake_curve.py):
kernelspecs that opt in, and checks of the connection file the handshake writes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil
from traitlets.config import Config

from jupyter_client.connect import write_connection_file

KERNELS = Path(__file__).with_name("kernels")
HANDSHAKE_KERNEL = str(KERNELS / "handshake_kernel.py")
MINIMAL_KERNEL = str(KERNELS / "minimal_kernel.py")
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


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
