"""Port claims shared between processes (protocol/port_claims.py) and the allocator's use of them.

The cross-process test is the point: two processes allocating from the same small pool get
disjoint ports, which in-memory reservations alone could not promise.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_client.protocol.port_claims import SharedClaims, default_claims_dir
from jupyter_client.protocol.ports import PortAllocator

pytestmark = pytest.mark.timeout(60)

# Allocates 5 ports from the forced pool, prints them, holds them until stdin closes.
HOLDER = """
import json, sys
from jupyter_client.protocol.ports import PortAllocator
ports = PortAllocator().allocate("127.0.0.1", 5)
print(json.dumps(ports), flush=True)
sys.stdin.read()
"""


def _free_block(n: int) -> range:
    """``n`` consecutive ports below the ephemeral range that bind right now."""
    for lo in range(20300, 21000, n):
        block = range(lo, lo + n)
        ok = True
        for p in block:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return block
    pytest.skip("no free block of ports below the ephemeral range")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_two_processes_never_share_a_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    block = _free_block(10)
    claims_dir = tmp_path / "claims"
    monkeypatch.setenv("JUPYTER_CLIENT_PORT_RANGE", f"{block[0]}-{block[-1]}")
    monkeypatch.setenv("JUPYTER_CLIENT_PORT_DIR", str(claims_dir))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None
        theirs = set(json.loads(holder.stdout.readline()))
        assert len(theirs) == 5 and theirs <= set(block)
        claims = SharedClaims()
        assert {claims.owner(p) for p in theirs} == {holder.pid}
        # The rest of the pool is ours; past that, the fallback (bind(0)) still avoids theirs.
        alloc = PortAllocator()
        mine = alloc.allocate("127.0.0.1", 5)
        assert set(mine) == set(block) - theirs
        more = alloc.allocate("127.0.0.1", 2)
        assert not set(more) & set(block)
        alloc.release(mine[0])
        assert claims.owner(mine[0]) is None and claims.owner(mine[1]) == os.getpid()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        assert holder.stdout is not None
        holder.stdout.close()
    # A claim dies with its owner: the ports are free for anybody, and a sweep deletes them.
    after = SharedClaims(sweep_every=None)  # no automatic sweep: this test calls it
    assert all(after.owner(p) is None for p in theirs)
    assert after.sweep() == len(theirs)
    left = (set(block) - theirs - {mine[0]}) | set(more)
    assert sorted(os.listdir(claims_dir)) == sorted(["lock", *map(str, left)])


def _write_claim(d: Path, port: int, pid: int, expiry: float | str) -> None:
    d.mkdir(mode=0o700, exist_ok=True)
    (d / str(port)).write_text(f"{pid} {expiry}\n")


def test_which_claims_count(tmp_path: Path) -> None:
    d = tmp_path / "claims"
    now = time.time()
    parent = os.getppid()  # alive, and not us
    _write_claim(d, 1001, parent, now + 600)  # live: counts
    _write_claim(d, 1002, parent, now - 1)  # expired
    _write_claim(d, 1003, _dead_pid(), now + 600)  # owner gone
    (d / "1004").write_text("garbage")  # malformed
    _write_claim(d, 1005, os.getpid(), now + 600)  # ours already
    claims = SharedClaims(str(d))
    assert claims.claim([1001, 1002, 1003, 1004, 1005, 1006], ttl=10) == [
        1002, 1003, 1004, 1005, 1006,
    ]  # fmt: skip
    assert claims.owner(1001) == parent
    assert all(claims.owner(p) == os.getpid() for p in (1002, 1003, 1004, 1005, 1006))
    claims.release([1001, 1002])  # not ours: left alone; ours: gone
    assert claims.owner(1001) == parent and not (d / "1002").exists()
    assert claims.sweep() == 0  # nothing stale left
    assert not [n for n in os.listdir(d) if n.startswith(".")]  # no temp files


def test_claims_expire_on_the_clock(tmp_path: Path) -> None:
    now = [1000.0]
    mine = SharedClaims(str(tmp_path / "c"), clock=lambda: now[0])
    mine.claim([2001], ttl=10)
    # Another process's view: same file, its own clock reading.
    record = (tmp_path / "c" / "2001").read_text().split()
    assert int(record[0]) == os.getpid() and float(record[1]) == 1010.0
    later = SharedClaims(str(tmp_path / "c"), clock=lambda: 1011.0, sweep_every=None)
    assert later.owner(2001) is None and later.sweep() == 1


def test_a_directory_other_users_can_write_is_not_trusted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tmp_path / "claims"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    _write_claim(d, 3001, os.getppid(), time.time() + 600)
    claims = SharedClaims(str(d))
    with caplog.at_level(logging.WARNING, logger="jupyter_client.protocol.port_claims"):
        assert claims.claim([3001], ttl=10) == [3001]  # off: everything is "ours"
        assert claims.claim([3002], ttl=10) == [3002]
    assert [r.getMessage() for r in caplog.records] == [
        f"port claim directory {str(d)!r} is not private to this user; not using it "
        "(ports are reserved for this process only)"
    ]  # once, not per call
    assert not (d / "3002").exists()


def test_a_stuck_lock_holder_delays_but_never_hangs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = tmp_path / "claims"
    d.mkdir(mode=0o700)
    hold = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(d / 'lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        claims = SharedClaims(str(d))
        claims.LOCK_WAIT = 0.05
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="jupyter_client.protocol.port_claims"):
            assert claims.claim([4001], ttl=10) == [4001]
        assert time.monotonic() - t0 < 10  # bounded: LOCK_WAIT, not forever
        assert "busy" in caplog.text and not (d / "4001").exists()
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()
    assert claims.claim([4001], ttl=10) == [4001] and (d / "4001").exists()


def test_default_dir_is_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_CLIENT_PORT_DIR", raising=False)
    assert default_claims_dir().endswith(f"jupyter-client-ports-{os.getuid()}")
    monkeypatch.setenv("JUPYTER_CLIENT_PORT_DIR", "/somewhere/else")
    assert default_claims_dir() == "/somewhere/else"


_BIG = st.integers(min_value=-(2**80), max_value=2**80)
_TEXT = st.builds(lambda pid, exp: f"{pid} {exp}".encode(), _BIG, st.one_of(st.floats(), _BIG))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(content=st.one_of(st.binary(max_size=80), _TEXT))
def test_any_claim_file_content_reads_as_a_claim_or_stale(tmp_path: Path, content: bytes) -> None:
    """A claim file is only written by us, but any content (a crash mid-write, another
    program) must read as a live claim or as stale, never raise out of a kernel start."""
    d = tmp_path / "fuzz"
    d.mkdir(mode=0o700, exist_ok=True)
    (d / "5001").write_bytes(content)
    claims = SharedClaims(str(d), sweep_every=None)
    owner = claims.owner(5001)
    assert owner is None or (isinstance(owner, int) and owner > 0)
    assert claims.claim([5001], ttl=10) == ([] if owner not in (None, os.getpid()) else [5001])
    claims.sweep()


def test_a_manager_claims_its_ports_until_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernel_helpers import minimal_kernelspec_manager

    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("JUPYTER_CLIENT_PORT_DIR", str(tmp_path / "claims"))
    ksm = minimal_kernelspec_manager(tmp_path)
    km = KernelManager(kernel_name="minimal", kernel_spec_manager=ksm)
    km.start_kernel()
    try:
        claims = SharedClaims(sweep_every=None)
        ports = list(km.ports)
        assert len(set(ports)) == 5 and {claims.owner(p) for p in ports} == {os.getpid()}
        km.restart_kernel(now=True)  # same ports, still claimed
        assert list(km.ports) == ports and {claims.owner(p) for p in ports} == {os.getpid()}
    finally:
        km.shutdown_kernel(now=True)
    assert {claims.owner(p) for p in ports} == {None}
