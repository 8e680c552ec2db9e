"""Provisioner factory, base-class helpers and LocalProvisioner behaviour."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import trio

from jupyter_client.actors.runtime import runtime_home
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from jupyter_client.provisioning import (
    KernelProvisionerBase,
    KernelProvisionerFactory,
    LocalProvisioner,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))


def test_factory_default_and_unknown() -> None:
    factory = KernelProvisionerFactory.instance()
    assert factory.default_provisioner_name == "local-provisioner"
    assert "local-provisioner" in factory.get_provisioner_entries()
    spec = KernelSpec(argv=["x"], display_name="x", language="python")
    prov = factory.create_provisioner_instance("kid", spec, parent=None)
    assert isinstance(prov, LocalProvisioner) and prov.kernel_id == "kid"
    bad = KernelSpec(
        argv=["x"],
        display_name="bad",
        metadata={"kernel_provisioner": {"provisioner_name": "no-such-prov"}},
    )
    assert not factory.is_provisioner_available(bad)
    with pytest.raises(ModuleNotFoundError, match="Kernel provisioner 'no-such-prov' has not"):
        factory.create_provisioner_instance("kid", bad, parent=None)
    assert bad.metadata["kernel_provisioner"]["config"] == {}


def test_base_is_abstract_and_pre_launch_env() -> None:
    with pytest.raises(TypeError):
        KernelProvisionerBase()  # type: ignore[abstract]
    spec = KernelSpec(
        argv=["x"], display_name="x", language="Python", env={"A": "${HOME}/a", "B": "$NOPE"}
    )
    prov = LocalProvisioner(kernel_spec=spec)
    env = {"HOME": "/h", "PYTHONEXECUTABLE": "p"}
    kw = trio.run(lambda: prov.pre_launch(env=env, extra_arguments=["--y"]))
    assert kw["env"]["A"] == "/h/a" and kw["env"]["B"] == "$NOPE"
    assert "PYTHONEXECUTABLE" not in kw["env"]
    assert kw["cmd"] == ["x", "--y"]
    assert prov.get_shutdown_wait_time() == 5.0 and prov.get_stable_start_time() == 10.0
    assert prov.connection_info is not LocalProvisioner(kernel_spec=spec).connection_info


def test_local_provisioner_lifecycle(tmp_path: Path) -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    prov = km.provisioner
    assert isinstance(prov, LocalProvisioner) and prov.has_process
    assert prov.pid is not None and prov.pgid == prov.pid
    (tmp_path / "f.txt").write_text("")
    assert prov.resolve_path("f.txt") == str(tmp_path / "f.txt")
    call = runtime_home().call_blocking  # the provisioner's process lives in the runtime
    info = call(prov.get_provisioner_info)
    assert info["pid"] == prov.pid and info["kernel_id"] == km.kernel_id
    assert call(prov.poll) is None
    os.kill(prov.pid, signal.SIGTERM)
    assert call(prov.wait) == -signal.SIGTERM
    assert not prov.has_process and call(prov.poll) == 0
    km.shutdown_kernel()


def test_metadata_provisioner_name(tmp_path: Path) -> None:
    ksm = KernelSpecManager()
    spec = ksm.get_kernel_spec("python3").to_dict()
    spec["metadata"] = {"kernel_provisioner": {"provisioner_name": "local-provisioner"}}
    d = tmp_path / "kernels" / "named"
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(json.dumps(spec))
    km = KernelManager(
        kernel_name="named", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(d.parent)])
    )
    km.start_kernel()
    assert isinstance(km.provisioner, LocalProvisioner)
    km.shutdown_kernel(now=True)
