"""KernelSpec / KernelSpecManager on real spec dirs (JUPYTER_* pointed at temp dirs)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_client import kernelspec
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.protocol.kernelspec import KernelSpecError, parse_kernel_json

SPEC = {"argv": ["python", "-m", "k", "-f", "{connection_file}"], "display_name": "K",
        "language": "python"}  # fmt: skip


@pytest.fixture
def dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Path]:
    d = {"data": tmp_path / "data", "extra": tmp_path / "extra", "cfg": tmp_path / "cfg"}
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(d["data"]))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(d["cfg"]))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv("JUPYTER_PATH", str(d["extra"]))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipy"))
    return d


def make_spec(root: Path, name: str, spec: dict | str = SPEC) -> Path:
    d = root / "kernels" / name
    d.mkdir(parents=True)
    (d / "kernel.json").write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return d


def ksm(**kw: object) -> KernelSpecManager:
    return KernelSpecManager(ensure_native_kernel=False, **kw)


def test_find_and_get(dirs: dict[str, Path]) -> None:
    a = make_spec(dirs["extra"], "Alpha")
    make_spec(dirs["data"], "alpha", dict(SPEC, display_name="shadowed"))
    found = ksm().find_kernel_specs()
    assert found["alpha"] == str(a)  # earlier dir (JUPYTER_PATH) wins, name lower-cased
    spec = ksm().get_kernel_spec("ALPHA")
    assert spec.display_name == "K" and spec.resource_dir == str(a)
    assert spec.interrupt_mode == "signal"
    with pytest.raises(NoSuchKernel) as ei:
        ksm().get_kernel_spec("nope")
    assert str(ei.value) == "No such kernel named nope" and isinstance(ei.value, KeyError)


def test_to_dict_order_and_json(dirs: dict[str, Path]) -> None:
    make_spec(dirs["data"], "x", dict(SPEC, interrupt_mode="MESSAGE", unknown_key=1))
    spec = ksm().get_kernel_spec("x")
    assert list(spec.to_dict()) == ["argv", "env", "display_name", "language", "interrupt_mode",
                                    "metadata", "kernel_protocol_version"]  # fmt: skip
    assert spec.interrupt_mode == "message"
    assert json.loads(spec.to_json()) == spec.to_dict()


def test_broken_spec_skipped_in_listing_clear_when_named(
    dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    make_spec(dirs["data"], "good")
    bad = make_spec(dirs["data"], "bad", {"argv": "python -m x"})
    make_spec(dirs["data"], "garbage", "{{{")
    with caplog.at_level(logging.WARNING):
        specs = ksm().get_all_specs()
    assert set(specs) - {"python3"} == {"good"}
    assert "bad" in caplog.text
    with pytest.raises(KernelSpecError) as ei:
        ksm().get_kernel_spec("bad")
    assert str(bad / "kernel.json") in str(ei.value) and ei.value.field == "argv"
    with pytest.raises(KernelSpecError, match="not valid JSON"):
        ksm().get_kernel_spec("garbage")


def test_invalid_dir_name_warns(dirs: dict[str, Path]) -> None:
    make_spec(dirs["data"], "bad name")
    with pytest.warns(UserWarning, match="Invalid kernelspec directory name"):
        assert "bad name" in ksm().find_kernel_specs()


def test_allowed_and_whitelist(dirs: dict[str, Path]) -> None:
    for n in ("a", "b"):
        make_spec(dirs["data"], n)
    assert set(ksm(allowed_kernelspecs={"a"}).find_kernel_specs()) == {"a"}
    m = ksm()
    m.whitelist = {"b"}
    assert m.allowed_kernelspecs == {"b"}


def test_native_kernel_fallback(dirs: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    # ipykernel is not installed in our venv: the native fallback only logs a warning
    with caplog.at_level(logging.WARNING):
        found = KernelSpecManager().find_kernel_specs()
    assert "python3" in found or "Native kernel (python3) is not available" in caplog.text


def test_install_and_remove(dirs: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src" / "MyKernel"
    src.mkdir(parents=True)
    (src / "kernel.json").write_text(json.dumps(SPEC))
    m = ksm()
    dest = m.install_kernel_spec(str(src) + "/", user=True)
    assert dest == str(dirs["data"] / "kernels" / "mykernel")
    assert m.install_kernel_spec(str(src), "other", prefix=str(tmp_path / "pfx")) == str(
        tmp_path / "pfx" / "share" / "jupyter" / "kernels" / "other"
    )
    with pytest.raises(ValueError, match="Can't specify both user and prefix"):
        m.install_kernel_spec(str(src), user=True, prefix="/x")
    with pytest.raises(ValueError, match="Invalid kernel name"):
        m.install_kernel_spec(str(src), "bad name", user=True)
    with pytest.warns(DeprecationWarning, match="replace is ignored"):
        kernelspec.install_kernel_spec(str(src), user=True)
    link = dirs["data"] / "kernels" / "linked"
    os.symlink(src, link)
    assert m.remove_kernel_spec("linked") == str(link) and src.exists()
    assert m.remove_kernel_spec("mykernel") == dest and not os.path.exists(dest)
    with pytest.raises(KeyError):
        m.remove_kernel_spec("mykernel")


def test_unknown_provisioner_is_no_such_kernel(dirs: dict[str, Path]) -> None:
    meta = {"kernel_provisioner": {"provisioner_name": "no-such-provisioner"}}
    make_spec(dirs["data"], "p", dict(SPEC, metadata=meta))
    with pytest.raises(NoSuchKernel):
        ksm().get_kernel_spec("p")
    assert "p" not in ksm().get_all_specs()


def test_subclass_extra_traits(dirs: dict[str, Path]) -> None:
    from traitlets import Unicode

    class MySpec(KernelSpec):
        flavour = Unicode()

    d = make_spec(dirs["data"], "f", dict(SPEC, flavour="mint"))
    assert MySpec.from_resource_dir(str(d)).flavour == "mint"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_kernel_json_bytes(data: bytes) -> None:
    try:
        parse_kernel_json(data, "k.json")
    except KernelSpecError as e:
        assert "k.json" in str(e)


_val = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(["argv", "env", "display_name", "language", "interrupt_mode",
                         "metadata", "kernel_protocol_version", "x"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_val, st.dictionaries(_keys, _val, max_size=5)))
def test_fuzz_kernel_json_documents(doc: object) -> None:
    try:
        spec = parse_kernel_json(json.dumps(doc), "k.json")
    except KernelSpecError:
        return
    assert spec.interrupt_mode in ("message", "signal")
    assert parse_kernel_json(json.dumps(spec.to_dict())).to_dict() == spec.to_dict()
