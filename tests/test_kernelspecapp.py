"""`jupyter-kernelspec` through the real console script, compared with upstream's CLI."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "jupyter-kernelspec"
THEIRS = ROOT / ".venv-kernel" / "bin" / "jupyter-kernelspec"
SPEC = {"argv": ["python", "-m", "k", "-f", "{connection_file}"], "display_name": "K"}


def run(exe: Path, args: list[str], env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    p = subprocess.run([str(exe), *args], env=env, cwd="/", input=stdin, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    return p.returncode, p.stdout, p.stderr


def make_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "IPYTHON"))}
    env.update(
        JUPYTER_DATA_DIR=str(base / "data"),
        JUPYTER_CONFIG_DIR=str(base / "cfg"),
        JUPYTER_RUNTIME_DIR=str(base / "rt"),
        JUPYTER_PATH=os.pathsep.join([str(base / "extra"), str(ROOT / ".venv/share/jupyter")]),
        IPYTHONDIR=str(base / "ipy"),
    )
    return env


def make_spec(root: Path, name: str, spec: dict | str = SPEC) -> None:
    d = root / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(spec if isinstance(spec, str) else json.dumps(spec))


@pytest.fixture
def base(tmp_path: Path) -> Path:
    make_spec(tmp_path / "extra", "zeta", dict(SPEC, env={"A": "1"}, interrupt_mode="message"))
    make_spec(tmp_path / "data", "alpha")
    make_spec(tmp_path / "data", "Mixed.Case-name_1")
    make_spec(tmp_path / "data", "broken", '{"argv": 3}')
    return tmp_path


def test_list_json_same_as_upstream(base: Path) -> None:
    env = make_env(base)
    rc1, ours, err1 = run(OURS, ["list", "--json"], env)
    rc2, theirs, _ = run(THEIRS, ["list", "--json"], env)
    assert rc1 == rc2 == 0, err1
    assert json.loads(ours) == json.loads(theirs)
    specs = json.loads(ours)["kernelspecs"]
    assert {"zeta", "alpha", "mixed.case-name_1", "python3"} <= set(specs)
    assert "broken" not in specs
    assert specs["python3"]["resource_dir"] == str(ROOT / ".venv/share/jupyter/kernels/python3")


def test_list_text_same_as_upstream_without_the_skipped_spec(base: Path) -> None:
    env = make_env(base)
    ours, theirs = run(OURS, ["list"], env), run(THEIRS, ["list"], env)
    assert ours[0] == theirs[0] == 0
    assert ours[1].startswith("Available kernels:\n")
    # Upstream warns that it skips `broken`, then lists it anyway; we list what loaded.
    assert "Skipping kernelspec 'broken'" in ours[2]
    broken = [line for line in theirs[1].splitlines() if line.split()[0] == "broken"]
    assert len(broken) == 1
    assert ours[1].splitlines() == [line for line in theirs[1].splitlines() if line not in broken]


def test_list_leaves_out_a_spec_it_skipped(base: Path) -> None:
    make_spec(base / "data", "bad-json", "{not json")
    rc, out, err = run(OURS, ["list"], make_env(base))
    assert rc == 0, err
    assert "Skipping kernelspec 'bad-json'" in err
    assert "bad-json" not in out
    assert "alpha" in out


def test_no_kernels(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    env["JUPYTER_PATH"] = str(tmp_path / "x")
    rc, out, _ = run(OURS, ["list", "--missing"], env)
    assert rc == 0 and out == "No kernels available\n"


def test_no_subcommand_and_provisioners(base: Path) -> None:
    env = make_env(base)
    ours, theirs = run(OURS, [], env), run(THEIRS, [], env)
    assert ours[:2] == theirs[:2] and ours[0] == 1
    # The listing: the same header and lines, name column padded to the longest name (our
    # venv has gateway_provisioners' entry points too, the kernel venv's upstream does not).
    (rc, out, _), (rc_t, out_t, _) = (
        run(OURS, ["provisioners"], env),
        run(THEIRS, ["provisioners"], env),
    )
    assert rc == rc_t == 0 and out.splitlines()[0] == out_t.splitlines()[0]
    rows = {tuple(line.split()) for line in out.splitlines()[1:]}
    assert {tuple(line.split()) for line in out_t.splitlines()[1:]} <= rows
    width = max(len(name) for name, _ in rows)
    local = "local-provisioner".ljust(width) + "    jupyter_client.provisioning:LocalProvisioner"
    assert f"  {local}" in out.splitlines()


def test_install_remove_like_upstream(base: Path, tmp_path: Path) -> None:
    src = tmp_path / "src" / "NewK"
    src.mkdir(parents=True)
    (src / "kernel.json").write_text(json.dumps(SPEC))
    for exe, tag in ((OURS, "o"), (THEIRS, "t")):
        env = make_env(tmp_path / tag)
        data = tmp_path / tag / "data"
        rc, out, err = run(exe, ["install", str(src), "--user", "--name", "Named"], env)
        assert rc == 0 and f"Installed kernelspec named in {data}/kernels/named" in err
        assert (data / "kernels" / "named" / "kernel.json").exists()
        rc, _, err = run(exe, ["install", str(src), "--user", "--prefix", "/x"], env)
        assert rc == 1 and "Can't specify both user and prefix" in err
        assert run(exe, ["install"], env)[0:3:2] == (1, "No source directory specified.\n")
        rc, out, err = run(exe, ["remove", "named"], env, stdin="n\n")
        assert rc == 0 and "Kernel specs to remove:" in out and "Remove 1 kernel specs" in out
        assert (data / "kernels" / "named").exists()
        rc, out, _ = run(exe, ["uninstall", "named", "-y"], env)
        assert rc == 0 and out == f"Removed {data}/kernels/named\n"
        rc, _, err = run(exe, ["remove", "zz", "aa", "-f"], env)
        assert rc == 1 and "Couldn't find kernel spec(s): " in err


def test_install_prefix_and_sys_prefix(tmp_path: Path) -> None:
    src = tmp_path / "src" / "pk"
    src.mkdir(parents=True)
    (src / "kernel.json").write_text(json.dumps(SPEC))
    env = make_env(tmp_path)
    rc, _, err = run(OURS, ["install", str(src), "--prefix", str(tmp_path / "pfx")], env)
    assert rc == 0, err
    assert (tmp_path / "pfx/share/jupyter/kernels/pk/kernel.json").exists()


def test_launch_instance_exists() -> None:
    from jupyter_client.kernelspecapp import KernelSpecApp, ListKernelSpecs

    assert callable(KernelSpecApp.launch_instance)
    assert "json" in ListKernelSpecs.flags
