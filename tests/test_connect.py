"""Connection files, the ConnectionFileMixin and port choice (real files, real sockets)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_client import connect
from jupyter_client.connect import (
    ConnectionFileMixin,
    LocalPortCache,
    find_connection_file,
    write_connection_file,
)
from jupyter_client.protocol.connection import (
    ConnectionFileError,
    InvalidPortInConnectionFile,
    InvalidPortNumber,
    connection_dict,
    dumps_connection,
    loads_connection,
    parse_connection_info,
)
from jupyter_client.protocol.ports import PortAllocator, ephemeral_range


@pytest.fixture(autouse=True)
def _jupyter_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATA", "CONFIG", "RUNTIME"):
        monkeypatch.setenv(f"JUPYTER_{name}_DIR", str(tmp_path / name.lower()))


def test_write_defaults_order_mode_and_text(tmp_path: Path) -> None:
    d = tmp_path / "conn"
    d.mkdir()
    fname, cfg = write_connection_file(str(d / "k.json"), key=b"secret", kernel_name="python3")
    assert list(cfg) == [
        "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port", "ip", "key",
        "transport", "signature_scheme", "kernel_name",
    ]  # fmt: skip
    assert cfg["key"] == "secret" and cfg["ip"] == "127.0.0.1"
    assert cfg["signature_scheme"] == "hmac-sha256" and cfg["transport"] == "tcp"
    text = Path(fname).read_text()
    assert not text.endswith("\n") and json.loads(text) == cfg
    assert stat.S_IMODE(os.stat(fname).st_mode) == 0o600
    assert os.stat(d).st_mode & stat.S_ISVTX  # sticky parent dir, as upstream
    ports = [cfg[n] for n in connect.port_names]  # type: ignore[literal-required]
    assert len(set(ports)) == 5 and all(p > 0 for p in ports)
    eph = ephemeral_range()
    forced = os.environ.get("JUPYTER_CLIENT_PORT_RANGE")  # xdist workers: a slice of the pool
    if eph is not None and (not forced or int(forced.split("-")[0]) > eph[1]):
        assert not any(eph[0] <= p <= eph[1] for p in ports)


def test_write_temp_file_when_no_name() -> None:
    fname, _ = write_connection_file(key=b"k")
    try:
        assert Path(fname).name.startswith("tmp") and fname.endswith(".json")
    finally:
        os.remove(fname)


def test_text_identical_to_upstream(kernel_python: str, tmp_path: Path) -> None:
    args = dict(shell_port=1001, iopub_port=1002, stdin_port=1003, hb_port=1004,
                control_port=1005, ip="127.0.0.1", key="k\u00e9y", kernel_name="x")  # fmt: skip
    extra = {"curve_publickey": "P" * 40, "curve_secretkey": "S" * 40, "jupyter_session": "n"}
    theirs = tmp_path / "theirs.json"
    code = (
        "import json,sys; from jupyter_client.connect import write_connection_file as w;"
        "a=json.loads(sys.argv[2]); a['key']=a['key'].encode();"
        "a['curve_publickey']=a['curve_publickey'].encode();"
        "a['curve_secretkey']=a['curve_secretkey'].encode(); w(sys.argv[1], **a)"
    )
    subprocess.run([kernel_python, "-c", code, str(theirs), json.dumps({**args, **extra})],
                   cwd="/", check=True, timeout=60)  # fmt: skip
    ours, _ = write_connection_file(
        str(tmp_path / "ours.json"), **{**args, "key": args["key"].encode()},  # type: ignore[arg-type]
        curve_publickey=b"P" * 40, curve_secretkey=b"S" * 40, jupyter_session="n",
    )  # fmt: skip
    assert Path(ours).read_bytes() == theirs.read_bytes()


def test_ipc_numbering_skips_existing(tmp_path: Path) -> None:
    ip = str(tmp_path / "kernel-ipc")
    Path(f"{ip}-1").touch()
    _, cfg = write_connection_file(str(tmp_path / "c.json"), transport="ipc", ip=ip, hb_port=9)
    assert [cfg["shell_port"], cfg["iopub_port"], cfg["stdin_port"], cfg["control_port"]] == [
        2, 3, 4, 5,
    ]  # fmt: skip
    assert cfg["hb_port"] == 9


def test_find_connection_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = tmp_path / "rt"
    rt.mkdir()
    a, b = rt / "kernel-a.json", rt / "kernel-b.json"
    a.write_text("{}")
    b.write_text("{}")
    os.utime(a, (1000, 1000))
    os.utime(b, (2000, 2000))
    monkeypatch.chdir(tmp_path)
    assert find_connection_file("kernel-a.json", path=str(rt)) == str(a)
    assert find_connection_file("a", path=[str(rt)]) == str(a)
    assert find_connection_file(path=str(rt)) == str(b)  # newest access time wins
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(rt))
    assert find_connection_file("kernel-b.json") == str(b)
    with pytest.raises(OSError, match="Could not find"):
        find_connection_file("nope", path=str(rt))
    with pytest.warns(UserWarning, match="no profiles"):
        find_connection_file("kernel-a.json", path=str(rt), profile="x")


def test_mixin_traits_and_info() -> None:
    m = ConnectionFileMixin()
    assert (m.ip, m.transport, m.ports) == ("127.0.0.1", "tcp", [0, 0, 0, 0, 0])
    m.ip = "*"
    assert m.ip == "0.0.0.0"
    ipc = ConnectionFileMixin(transport="ipc", connection_file="/x/kernel-1.json")
    assert ipc.ip == "/x/kernel-1-ipc"
    assert ConnectionFileMixin(transport="ipc").ip == "kernel-ipc"
    m.session.key = b"abc"
    info = m.get_connection_info()
    assert info["key"] == b"abc" and info["signature_scheme"] == "hmac-sha256"
    assert "curve_publickey" not in info
    with_session = m.get_connection_info(session=True)
    assert "key" not in with_session and with_session["session"] is not m.session


def test_mixin_write_load_cleanup(tmp_path: Path) -> None:
    f = str(tmp_path / "kernel-1.json")
    m = ConnectionFileMixin(connection_file=f, shell_port=0)
    m.session.key = b"kkk"
    m.curve_publickey, m.curve_secretkey = b"p" * 40, b"s" * 40
    m.write_connection_file()
    assert all(m.ports) and os.path.exists(f)
    other = ConnectionFileMixin(hb_port=5)
    other.load_connection_file(f)
    assert other.hb_port == 5  # only zero ports are taken from the file
    assert other.shell_port == m.shell_port and other.session.key == b"kkk"
    assert other.curve_publickey == b"p" * 40
    assert other.get_connection_info()["curve_secretkey"] == "s" * 40
    m.cleanup_random_ports()
    assert m.ports == [0, 0, 0, 0, 0] and not os.path.exists(f)


def test_reconcile(tmp_path: Path) -> None:
    f = str(tmp_path / "kernel-2.json")
    m = ConnectionFileMixin(connection_file=f)
    m.session.key = b"a"
    m.write_connection_file()
    info = m.get_connection_info()
    m._reconcile_connection_info(info)  # equal: nothing happens
    new_info = dict(info, shell_port=info["shell_port"] + 1, key=b"b")
    m._reconcile_connection_info(new_info)  # type: ignore[arg-type]
    assert json.loads(Path(f).read_text())["key"] == "b"
    assert m.shell_port == info["shell_port"] + 1
    m.cleanup_connection_file()


def test_connect_sockets_real_zmq() -> None:
    ctx = zmq.Context()
    try:
        m = ConnectionFileMixin(context=ctx, shell_port=1, iopub_port=2, stdin_port=3,
                                hb_port=4, control_port=5)  # fmt: skip
        assert m._make_url("hb") == "tcp://127.0.0.1:4"
        kinds = {"shell": zmq.DEALER, "iopub": zmq.SUB, "stdin": zmq.DEALER,
                 "hb": zmq.REQ, "control": zmq.DEALER}  # fmt: skip
        for chan, kind in kinds.items():
            sock = getattr(m, f"connect_{chan}")(identity=b"me")
            try:
                assert sock.type == kind and sock.linger == 1000 and sock.identity == b"me"
                assert isinstance(sock, zmq.Socket)
            finally:
                sock.close(0)
        ipc = ConnectionFileMixin(transport="ipc", ip="/tmp/k", shell_port=3)
        assert ipc._make_url("shell") == "ipc:///tmp/k-3"
    finally:
        ctx.term()


def test_garbled_files_name_file_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    m = ConnectionFileMixin()
    with pytest.raises(ConnectionFileError, match=r"bad\.json"):
        m.load_connection_file(str(f))
    f.write_text(json.dumps({"shell_port": "12"}))
    with pytest.raises(InvalidPortNumber) as ei:
        m.load_connection_file(str(f))
    assert isinstance(ei.value, ConnectionFileError) and ei.value.field == "shell_port"
    assert "bad.json" in str(ei.value)
    f.write_text(json.dumps({"key": 5}))
    with pytest.raises(ConnectionFileError, match="'key'"):
        m.load_connection_file(str(f))
    f.write_text(json.dumps({"transport": "udp"}))
    with pytest.raises(ConnectionFileError, match="transport"):
        m.load_connection_file(str(f))
    with pytest.raises(InvalidPortInConnectionFile):
        parse_connection_info({"hb_port": 70000})


_text = st.text(st.characters(codec="utf-8"), max_size=20)
_port = st.integers(0, 65535)


@settings(max_examples=200, deadline=None)
@given(
    ports=st.tuples(_port, _port, _port, _port, _port),
    ip=_text, key=_text, transport=st.sampled_from(["tcp", "ipc"]), scheme=_text, name=_text,
    curve=st.one_of(st.none(), st.text(alphabet="abcXYZ019.-:+=^!/*?&<>()[]{}@%$#", min_size=40,
                                       max_size=40)),
    extra=st.dictionaries(st.text(min_size=1, max_size=8).map(lambda s: "x_" + s), _text,
                          max_size=3),
)  # fmt: skip
def test_roundtrip(  # type: ignore[no-untyped-def]
    ports, ip, key, transport, scheme, name, curve, extra
) -> None:
    cfg = connection_dict(
        shell_port=ports[0], iopub_port=ports[1], stdin_port=ports[2], control_port=ports[3],
        hb_port=ports[4], ip=ip, key=key.encode(), transport=transport, signature_scheme=scheme,
        kernel_name=name, curve_publickey=curve, curve_secretkey=curve, extra=extra,
    )  # fmt: skip
    back = loads_connection(dumps_connection(cfg), "f.json")
    assert back == cfg and list(back) == list(cfg)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_bytes_only_clear_errors(data: bytes) -> None:
    try:
        loads_connection(data, "fuzz.json")
    except ConnectionFileError as e:
        assert "fuzz.json" in str(e)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=10,
)
_field = st.sampled_from(
    ["shell_port", "hb_port", "ip", "key", "transport", "signature_scheme", "kernel_name",
     "curve_publickey", "other"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, st.dictionaries(_field, _json, max_size=6)))
def test_fuzz_documents_only_clear_errors(doc: object) -> None:
    try:
        parse_connection_info(doc, "doc.json")
    except ConnectionFileError as e:
        assert e.source == "doc.json"


# -- ports -----------------------------------------------------------------------------------


def _range_file(tmp_path: Path, lo: int, hi: int) -> str:
    p = tmp_path / "range"
    p.write_text(f"{lo}\t{hi}\n")
    return str(p)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_allocator_avoids_ephemeral_and_reserved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_CLIENT_PORT_RANGE", raising=False)  # an xdist worker's slice
    reserved = tmp_path / "reserved"
    reserved.write_text("65000-65010,65500\n")
    alloc = PortAllocator(range_file=_range_file(tmp_path, 1024, 64999),
                          reserved_file=str(reserved))  # fmt: skip
    pool = alloc.candidate_pool()
    assert pool is not None and min(pool) == 65011 and 65500 not in pool
    ports = alloc.allocate("127.0.0.1", 5)
    assert len(set(ports)) == 5 and all(p > 64999 and p not in (65500,) for p in ports)


def test_allocator_never_twice_until_expiry_or_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool below the ephemeral range: the real pool (above it) is where the kernels of
    # tests running beside this one take their ports, and one of them once held 65533 here.
    monkeypatch.setenv("JUPYTER_CLIENT_PORT_RANGE", "20150-20155")
    clock = FakeClock()
    alloc = PortAllocator(ttl=10, clock=clock, range_file=_range_file(tmp_path, 1024, 65529),
                          reserved_file=str(tmp_path / "none"))  # fmt: skip
    assert alloc.candidate_pool() == list(range(20150, 20156))
    first = alloc.allocate("127.0.0.1", 6)
    assert sorted(first) == list(range(20150, 20156))
    # pool exhausted: falls back to bind(0) but still never repeats a held port
    more = alloc.allocate("127.0.0.1", 2)
    assert not set(more) & set(first)
    alloc.release(first[0])
    assert first[0] not in alloc.reserved
    clock.now = 11
    assert alloc.reserved == frozenset()


def test_allocator_skips_ports_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        alloc = PortAllocator(range_file=_range_file(tmp_path, 1024, 1025))
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("JUPYTER_CLIENT_PORT_RANGE", f"{port}-{port}")
            got = alloc.allocate("127.0.0.1", 1)
        assert got != [port]


def test_allocator_unknown_range_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_CLIENT_PORT_RANGE", raising=False)  # an xdist worker's slice
    alloc = PortAllocator(range_file=str(tmp_path / "missing"))
    assert alloc.candidate_pool() is None
    assert len(set(alloc.allocate("127.0.0.1", 3))) == 3


def test_local_port_cache() -> None:
    cache = LocalPortCache.instance()
    port = cache.find_available_port("127.0.0.1")
    assert port in cache.currently_used_ports
    cache.return_port(port)
    assert port not in cache.currently_used_ports
    cache.return_port(port)  # unknown port: ignored


def test_all_matches_upstream() -> None:
    assert sorted(connect.__all__) == [
        "KernelConnectionInfo", "LocalPortCache", "find_connection_file", "tunnel_to_kernel",
        "write_connection_file",
    ]  # fmt: skip
