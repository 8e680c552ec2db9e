"""Suite-wide fixtures: where the kernel venv is, and a leak check after every test.

The leak check is the project's promise made executable: after each test no child process,
thread, file descriptor, connection file or ipc socket file that the test created may remain.
Connection files are looked for in the session's runtime dir (``JUPYTER_RUNTIME_DIR``, a fresh
temporary dir per test process, so parallel workers never see each other's files) and, with
ipc socket files, under the test's ``tmp_path`` (where most tests point their managers).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL_PYTHON = ROOT / ".venv-kernel" / "bin" / "python"


@pytest.fixture(scope="session")
def kernel_python() -> str:
    """The python of the kernel venv (ipykernel + upstream jupyter_client)."""
    if not KERNEL_PYTHON.exists():
        pytest.fail(f"{KERNEL_PYTHON} is missing: run `make setup` first")
    return str(KERNEL_PYTHON)


def _open_fds() -> set[int]:
    try:
        return {int(fd) for fd in os.listdir("/proc/self/fd")}
    except FileNotFoundError:  # not Linux
        return set()


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


_RUNTIMES = ("runtime", "rt")  # what tests name the runtime dirs they give managers
# the names managers give connection files (tests' own hand-made files are not leaks)
_MANAGER_FILE = re.compile(r"kernel-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.json")


def _runtime_dir() -> Path:
    return Path(os.environ["JUPYTER_RUNTIME_DIR"])


def _kernel_files(tmp: Path | None) -> set[str]:
    """Connection files and ipc socket files a manager may leave behind."""
    found = set()
    runtime = _runtime_dir()
    if runtime.is_dir():
        found |= {str(p) for p in runtime.iterdir()}
    if tmp is not None and tmp.is_dir():
        for p in tmp.rglob("*"):
            try:
                mode = p.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISSOCK(mode) or (
                _MANAGER_FILE.fullmatch(p.name) and p.parent.name in _RUNTIMES
            ):
                found.add(str(p))
    return found


def _threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.ident is not None}


# Threads that may legitimately outlive a test: our process-wide trio runtime thread (started
# lazily, stopped at interpreter exit) and libraries' own daemon helpers.
_ALLOWED_THREAD_PREFIXES = (
    "jupyter-client-runtime",
    "jupyter-client-asyncio",
    "asyncio_",
    "Dummy-",
    "pydevd",
)


@pytest.fixture(scope="session", autouse=True)
def actor_runtime() -> None:
    """Start the process-wide runtime thread once, before any leak-check baseline is taken.

    Its trio run owns a few fds (epoll, wakeup socketpair) for the life of the process, as it
    does in an application; starting it lazily inside a test would look like a leak.
    """
    from jupyter_client.actors.runtime import runtime_home

    runtime_home()


@pytest.fixture(autouse=True)
def leak_check(request: pytest.FixtureRequest, actor_runtime: None):
    """Fail the test if it left child processes, threads or fds behind."""
    if request.node.get_closest_marker("no_leak_check"):
        yield
        return
    fds_before = _open_fds()
    kids_before = _children()
    threads_before = _threads()
    files_before = _kernel_files(None)
    yield
    # tmp_path is made after this fixture's setup (autouse fixtures come first) and is fresh
    # per test: anything matching in it at the end is new.
    tmp: Path | None = request.node.funcargs.get("tmp_path")
    deadline = time.monotonic() + 5.0
    while True:
        new_files = _kernel_files(tmp) - files_before
        new_kids = _children() - kids_before
        new_threads = {
            t
            for t in threading.enumerate()
            if t.ident not in threads_before
            and t.is_alive()
            and not t.name.startswith(_ALLOWED_THREAD_PREFIXES)
        }
        new_fds = _open_fds() - fds_before
        if not new_kids and not new_threads and not new_fds and not new_files:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if new_kids:
        descr = []
        for pid in new_kids:
            try:
                descr.append(f"{pid} {' '.join(psutil.Process(pid).cmdline())[:120]}")
            except psutil.Error:
                descr.append(str(pid))
        problems.append(f"child processes left: {descr}")
        for pid in new_kids:  # do not let one leak cascade into every later test
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass
    if new_threads:
        problems.append(f"threads left: {[t.name for t in new_threads]}")
    if new_fds:
        descr = []
        for fd in sorted(new_fds):
            try:
                descr.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
            except OSError:
                descr.append(str(fd))
        problems.append(f"fds left open: {descr}")
    if new_files:
        problems.append(f"connection/ipc files left: {sorted(new_files)}")
        for path in new_files:
            Path(path).unlink(missing_ok=True)
    pytest.fail("leak check: " + "; ".join(problems), pytrace=False)


@pytest.fixture
def jupyter_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A JUPYTER_PATH of our own (kernelspecs go in ``kernels/``) and a private runtime dir."""
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return tmp_path / "share"


def pytest_configure(config: pytest.Config) -> None:
    # Before any test (or jupyter_client path helper) reads it: a private runtime dir per test
    # process, checked by the leak check and removed at the end of the session.
    runtime = tempfile.mkdtemp(prefix="jc-test-runtime-")
    os.environ["JUPYTER_RUNTIME_DIR"] = runtime
    config._jc_runtime_dir = runtime  # type: ignore[attr-defined]
    _worker_port_slice()
    config.addinivalue_line("markers", "no_leak_check: skip the per-test leak check")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))


def pytest_unconfigure(config: pytest.Config) -> None:
    runtime = getattr(config, "_jc_runtime_dir", None)
    if runtime:
        shutil.rmtree(runtime, ignore_errors=True)


def _worker_port_slice() -> None:
    """Give each xdist worker its own slice of the allocator's port pool.

    Two processes choosing ports at once could pick the same one, and the later kernel would
    die at bind; our managers notice and retry, but tests that count restarts exactly would
    count one more. CI saw this between the two workers when reservations were per process.
    Port claims (docs/ports.md) now keep our processes apart; disjoint pools are a second
    guard that does not depend on them (tests/test_port_claims.py tests the claims). The
    serial phase (the port-squatter test among it) keeps the whole pool. The slices lie inside
    the pool the allocator would use anyway: the longest run of candidate ports.
    """
    from jupyter_client.protocol.ports import PortAllocator

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if not worker.startswith("gw") or count < 2 or os.environ.get("JUPYTER_CLIENT_PORT_RANGE"):
        return
    pool = sorted(PortAllocator().candidate_pool() or [])
    runs: list[list[int]] = []
    for port in pool:
        if runs and port == runs[-1][-1] + 1:
            runs[-1].append(port)
        else:
            runs.append([port])
    if not runs or len(longest := max(runs, key=len)) < 100 * count:
        return
    index = int(worker[2:]) % count
    size = len(longest) // count
    mine = longest[index * size : (index + 1) * size]
    os.environ["JUPYTER_CLIENT_PORT_RANGE"] = f"{mine[0]}-{mine[-1]}"
