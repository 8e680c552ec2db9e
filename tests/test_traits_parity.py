"""The traitlets surface of the façade against upstream jupyter_client 8.9.1.

Hosts configure jupyter_client through Jupyter config files and subclass its classes (Jupyter
Server's MappingKernelManager subclasses AsyncMultiKernelManager), so trait names, types,
defaults and ``config=True`` flags are API. tests/peers/traits_dump.py describes every
Configurable the same way for UPSTREAM (run in .venv-kernel) and for ours (loaded in-process);
this file compares the two descriptions, then runs the same behaviour snippets under both and
compares what they print.

Differences that are deliberate are listed in ``ALLOWED`` with the reason; each entry pins both
sides' exact values, so any further drift still fails.
"""

from __future__ import annotations

import importlib.util
import json
import queue
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import run_json, running_kernel

from jupyter_client.threaded import ThreadedKernelClient, ThreadedZMQSocketChannel

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT / "tests" / "peers" / "traits_dump.py"

# Classes whose dynamic defaults are also evaluated on a fresh instance (both sides).
EVALUATED = (
    "Session",
    "ConnectionFileMixin",
    "KernelManager",
    "AsyncKernelManager",
    "IOLoopKernelManager",
    "AsyncIOLoopKernelManager",
    "MultiKernelManager",
    "AsyncMultiKernelManager",
    "KernelSpecManager",
    "KernelRestarter",
    "IOLoopKernelRestarter",
    "AsyncIOLoopKernelRestarter",
    "LocalProvisioner",
    "KernelProvisionerFactory",
    "KernelClient",
    "BlockingKernelClient",
    "AsyncKernelClient",
    "ThreadedKernelClient",
    "ListKernelSpecs",
    "InstallKernelSpec",
    "RemoveKernelSpec",
    "InstallNativeKernelSpec",
    "ListProvisioners",
    "LocalPortCache",
    "RunApp",
    "KernelApp",
    "JupyterConsoleApp",
)

# The jupyter-run / jupyter-kernel / console applications are being written; until they land
# our names are placeholders (jupyter_client._pending) and their comparison is skipped. Once a
# real class replaces a placeholder, it is compared like every other class.
PENDING_APPS = {"RunApp", "KernelApp", "JupyterConsoleApp"}

_CURVE = (
    "a Bytes subclass that also accepts str keys: get_connection_info() returns the keys as "
    "str and upstream 8.9.1 rejects its own values (compatibility.md, 'better')"
)
_LOOP = (
    "no tornado needed: `loop` is accepted and ignored by the restarter and, on the managers, "
    "None means 'the loop running when connect_* is called' instead of creating/binding an "
    "IOLoop at construction (compatibility.md; tests/test_restarter.py passes loop=object())"
)
_PACKER = (
    "upstream's default is 'orjson' only when orjson is installed ('json' otherwise); ours is "
    "'json', a msgspec packer byte-identical to orjson's output with no orjson dependency; "
    "'orjson' is accepted as a value (compatibility.md, session rows)"
)

# (trait, field) -> (upstream value, our value, reason). Applies to every class with the trait.
ALLOWED: dict[tuple[str, str], tuple[Any, Any, str]] = {
    ("curve_publickey", "type"): ("Bytes", "_Z85Key", _CURVE),
    ("curve_secretkey", "type"): ("Bytes", "_Z85Key", _CURVE),
    ("loop", "type"): ("Instance", "Any", _LOOP),
    ("loop", "allow_none"): (False, True, _LOOP),
    ("loop", "details"): ({"klass": "IOLoop"}, {}, _LOOP),
    ("loop", "default"): ("dynamic", {"value": None}, _LOOP),
    ("packer", "default"): ({"value": "orjson"}, {"value": "json"}, _PACKER),
    ("unpacker", "default"): ({"value": "orjson"}, {"value": "json"}, _PACKER),
}

# Evaluated defaults that are random per instance: compared by shape (type and length).
RANDOM_PER_INSTANCE = {("Session", "key"), ("Session", "session")}

FIELDS = ("type", "config", "allow_none", "read_only", "details", "default")


def _load_dump_module() -> Any:
    spec = importlib.util.spec_from_file_location("traits_dump", DUMP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def upstream(kernel_python: str) -> dict[str, Any]:
    result: dict[str, Any] = run_json(kernel_python, str(DUMP), *EVALUATED)
    return result


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    result: dict[str, Any] = _load_dump_module().dump(evaluated=EVALUATED)
    return result


def _comparable_default(default: dict[str, Any]) -> Any:
    """Static defaults compare by value; dynamic ones only by being dynamic (their values are
    compared by ``test_dynamic_defaults_match_upstream`` where they are deterministic)."""
    return "dynamic" if "dynamic" in default else default


def _field(trait: dict[str, Any], field: str) -> Any:
    return _comparable_default(trait[field]) if field == "default" else trait[field]


def compare_class(up: dict[str, Any], our: dict[str, Any]) -> list[str]:
    """Every discrepancy between upstream's and our description of one class."""
    if "missing" in our:
        return [f"missing on our side: {our['missing']}"]
    problems = []
    lost_bases = sorted(set(up["mro"]) - set(our["mro"]))
    if lost_bases:
        problems.append(f"bases missing from our MRO: {lost_bases}")
    for name, ut in up["traits"].items():
        if name.startswith("_") and not ut["config"]:
            continue  # private state, not API
        ot = our["traits"].get(name)
        if ot is None:
            kind = "config trait" if ut["config"] else "public trait"
            problems.append(f"{kind} {name!r} missing ({ut['type']}, default {ut['default']})")
            continue
        for field in FIELDS:
            uv, ov = _field(ut, field), _field(ot, field)
            if uv == ov:
                continue
            allowed = ALLOWED.get((name, field))
            if allowed is not None and allowed[:2] == (uv, ov):
                continue
            problems.append(f"{name}.{field}: upstream {uv!r}, ours {ov!r}")
        if ut["config"] and ut["help"] and not ot["help"]:
            problems.append(f"{name}: config trait without help (upstream documents it)")
    if up.get("subcommands") != our.get("subcommands"):
        problems.append(
            f"subcommands: upstream {up.get('subcommands')}, ours {our.get('subcommands')}"
        )
    # Command-line options: every upstream alias (with its target) and flag exists on ours;
    # an extra option breaks no existing command line.
    up_aliases, our_aliases = up.get("aliases") or {}, our.get("aliases") or {}
    for alias, target in up_aliases.items():
        if our_aliases.get(alias) != target:
            problems.append(
                f"alias --{alias}: upstream {target!r}, ours {our_aliases.get(alias)!r}"
            )
    lost_flags = sorted(set(up.get("flags") or ()) - set(our.get("flags") or ()))
    if lost_flags:
        problems.append(f"flags missing: {lost_flags}")
    lost_classes = sorted(set(up.get("classes") or ()) - set(our.get("classes") or ()))
    if lost_classes:
        problems.append(f"classes (configurable from this app) missing: {lost_classes}")
    return problems


def _class_names() -> list[str]:
    return [name for _, name in _load_dump_module().CLASSES]


@pytest.mark.parametrize("name", _class_names())
def test_traits_match_upstream(name: str, upstream: dict[str, Any], ours: dict[str, Any]) -> None:
    up, our = upstream[name], ours[name]
    assert "missing" not in up, f"upstream has no {name}: {up['missing']}"
    if name in PENDING_APPS and not our.get("configurable", False):
        pytest.skip(f"{name} is still a placeholder (jupyter_client._pending): pending the apps")
    problems = compare_class(up, our)
    assert not problems, f"{name} differs from upstream:\n  " + "\n  ".join(problems)


def _shape(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"bytes"}:
        value = value["bytes"]
    return (type(value).__name__, len(value)) if isinstance(value, str) else value


def _drop_ipython_dir(values: list[str]) -> list[str]:
    """Upstream lists ``~/.ipython/kernels`` only when IPython is importable; IPython lives in
    the kernel venv alone, so the entry says which venv ran, not how the code behaves."""
    if importlib.util.find_spec("IPython") is not None:
        return values
    return [v for v in values if v != "{home}/.ipython/kernels"]


def test_dynamic_defaults_match_upstream(upstream: dict[str, Any], ours: dict[str, Any]) -> None:
    problems = []
    for name in EVALUATED:
        up, our = upstream[name].get("evaluated"), ours[name].get("evaluated")
        if up is None or "error" in up or our is None or "error" in our:
            if up != our:
                problems.append(f"{name}: instantiation upstream {up}, ours {our}")
            continue
        for trait, uv in up.items():
            if trait not in our:
                problems.append(f"{name}.{trait}: upstream default {uv!r} is static on ours")
                continue
            ov = our[trait]
            if (name, trait) in RANDOM_PER_INSTANCE:
                uv, ov = _shape(uv), _shape(ov)
            elif trait == "kernel_dirs":
                uv = _drop_ipython_dir(uv)
            if uv != ov:
                problems.append(f"{name}.{trait}: upstream {uv!r}, ours {ov!r}")
    assert not problems, "dynamic defaults differ:\n  " + "\n  ".join(problems)


def test_comparison_catches_renames_and_default_changes(upstream: dict[str, Any]) -> None:
    """The comparison itself can fail: a renamed trait, a changed default, a dropped config
    flag and a narrowed type are each reported (checked on a copy of upstream's dump)."""
    up = upstream["KernelManager"]
    assert compare_class(up, json.loads(json.dumps(up))) == []

    renamed = json.loads(json.dumps(up))
    renamed["traits"]["shutdown_wait_time_s"] = renamed["traits"].pop("shutdown_wait_time")
    assert any("'shutdown_wait_time' missing" in p for p in compare_class(up, renamed))

    changed = json.loads(json.dumps(up))
    changed["traits"]["shutdown_wait_time"]["default"] = {"value": 6.0}
    assert any("shutdown_wait_time.default" in p for p in compare_class(up, changed))

    unflagged = json.loads(json.dumps(up))
    unflagged["traits"]["autorestart"]["config"] = False
    assert any("autorestart.config" in p for p in compare_class(up, unflagged))

    retyped = json.loads(json.dumps(up))
    retyped["traits"]["kernel_name"]["type"] = "Any"
    assert any("kernel_name.type" in p for p in compare_class(up, retyped))


# -- behaviour users can see: the same snippet under both implementations -----------------

_PRELUDE = """
import json, logging, os, sys, tempfile
out = {}
def err(f):
    try:
        f()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return None
"""

SNIPPETS = {
    # Session's @validate / @observe: key, signature_scheme, packer/unpacker, session id.
    "session_validation": """
from jupyter_client.session import Session
out["scheme_bad_prefix"] = err(lambda: Session(signature_scheme="md5"))
out["scheme_bad_hash"] = err(lambda: Session(signature_scheme="hmac-nope"))
out["packer_bad"] = err(lambda: Session(packer="no.such.packer"))
out["unpacker_bad"] = err(lambda: Session(unpacker="no_such_module_xyz.unpack"))
out["key_str"] = err(lambda: Session(key="abc"))
out["key_int"] = repr(Session(key=3).key)
s = Session(key=b"abc")
s.packer = "pickle"
out["pickle_sets_unpacker"] = s.unpacker
s.packer = "json"
out["json_sets_unpacker"] = s.unpacker
s.session = "sid"
out["bsession"] = repr(s.bsession)
s.key = b""
out["no_key_no_auth"] = repr(s.auth)
s.signature_scheme = "hmac-sha512"
s.key = b"k"
out["digest_size"] = s.auth.digest_size
""",
    # KernelManager validation and the kernel_name observer (cached kernel_spec is reset).
    "manager_validation": """
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
out["te_bad"] = err(lambda: KernelManager(transport_encryption="bogus"))
out["te_auto"] = KernelManager(transport_encryption="AUTO").transport_encryption
out["transport_bad"] = err(lambda: KernelManager(transport="udp"))
out["python_alias"] = KernelManager(kernel_name="python").kernel_name
with tempfile.TemporaryDirectory() as d:
    for name in ("alpha", "beta"):
        os.makedirs(os.path.join(d, name))
        with open(os.path.join(d, name, "kernel.json"), "w") as f:
            json.dump({"argv": [sys.executable, "{connection_file}"],
                       "display_name": name.upper(), "language": "python"}, f)
    ksm = KernelSpecManager(kernel_dirs=[d], ensure_native_kernel=False)
    km = KernelManager(kernel_spec_manager=ksm, kernel_name="alpha")
    out["spec_first"] = km.kernel_spec.display_name
    km.kernel_name = "beta"
    out["spec_after_rename"] = km.kernel_spec.display_name
    km.kernel_name = "gamma"
    out["spec_unknown"] = err(lambda: km.kernel_spec).split(":")[0]
    allowed = KernelSpecManager(kernel_dirs=[d], allowed_kernelspecs={"beta"},
                                ensure_native_kernel=False)
    out["allowed_kernelspecs"] = sorted(allowed.find_kernel_specs())
""",
    # config= / parent= / log= reach the objects a host builds, directly and through
    # MultiKernelManager; subclasses with their own traits and @default overrides work.
    "config_parent_log": """
from traitlets import Integer, Unicode, default
from traitlets.config import Config, LoggingConfigurable
from jupyter_client.manager import KernelManager
from jupyter_client.multikernelmanager import AsyncMultiKernelManager, MultiKernelManager

class MyKM(KernelManager):
    extra = Unicode("unset", config=True)

    @default("ip")
    def _my_ip(self):
        return "127.0.0.9"

class MappingKM(AsyncMultiKernelManager):
    cull_idle_timeout = Integer(0, config=True)

    @default("kernel_manager_class")
    def _my_kmc(self):
        return "__main__.MyKM"

c = Config()
c.KernelManager.shutdown_wait_time = 7.5
c.Session.key = b"secret"
c.Session.signature_scheme = "hmac-sha512"
c.MyKM.extra = "from-config"
c.MappingKM.cull_idle_timeout = 30
c.MultiKernelManager.default_kernel_name = "echo"
log = logging.getLogger("host-log")
parent = LoggingConfigurable(config=c, log=log)
km = KernelManager(parent=parent)
out["km_parent"] = [km.parent is parent, km.config == c, km.log is log]
out["km_values"] = [km.shutdown_wait_time, km.session.key.decode(), km.session.signature_scheme]
out["session_parent"] = km.session.parent is km
km2 = KernelManager(config=c, log=log)
out["km_config"] = [km2.shutdown_wait_time, km2.session.key.decode(), km2.log is log]
kc = km.client()
out["client"] = [type(kc).__name__, kc.parent is km, kc.session is km.session, kc.log is log,
                 kc.session.key.decode(), kc.session.signature_scheme]
out["client_class"] = type(
    KernelManager(client_class="jupyter_client.asynchronous.AsyncKernelClient").client()
).__name__
mkm = MultiKernelManager(config=c, log=log, kernel_manager_class="__main__.MyKM")
out["mkm"] = [mkm.default_kernel_name, mkm.log is log]
with tempfile.TemporaryDirectory() as d:
    mkm.connection_dir = d
    made, name, kid = mkm.pre_start_kernel(None, {"kernel_id": "fixed-id"})
    out["mkm_created"] = [
        type(made).__name__, made.parent is mkm, made.log is log, made.extra, name, kid,
        made.shutdown_wait_time, made.session.signature_scheme,
        made.kernel_spec_manager is mkm.kernel_spec_manager,
    ]
mapping = MappingKM(config=c, log=log)
out["mapping"] = [mapping.cull_idle_timeout, mapping.default_kernel_name,
                  mapping.kernel_manager_class]
with tempfile.TemporaryDirectory() as d:
    mapping.connection_dir = d
    made, name, kid = mapping.pre_start_kernel("echo", {})
    out["created"] = [
        type(made).__name__, made.parent is mapping, made.log is log, made.config == c,
        made.extra, made.ip, made.shutdown_wait_time, made.session.key.decode(),
        made.kernel_name, name, made.connection_file == os.path.join(d, f"kernel-{kid}.json"),
        made.context is mapping.context,
    ]
""",
    # Redeclared traits in subclasses narrow what is accepted, as upstream's do; defaults
    # computed per instance (restarter callbacks, client contexts, the threaded client's thread).
    "subclass_narrowing": """
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel, HBChannel
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.restarter import KernelRestarter
from jupyter_client.threaded import ThreadedKernelClient
blocking = "jupyter_client.blocking.BlockingKernelClient"
out["akm_blocking_client"] = err(lambda: AsyncKernelManager(client_class=blocking)) is not None
out["akm_factory"] = AsyncKernelManager().client_factory.__name__
BKC = BlockingKernelClient
out["bkc_async_channel"] = err(lambda: BKC(shell_channel_class=AsyncZMQSocketChannel))
out["bkc_hb_as_shell"] = err(lambda: BKC(shell_channel_class=HBChannel)) is not None
out["akc_channel"] = AsyncKernelClient().shell_channel_class.__name__
out["threaded_channel"] = ThreadedKernelClient().iopub_channel_class.__name__
out["restarter_callbacks"] = {k: len(v) for k, v in KernelRestarter().callbacks.items()}
out["restarter_given"] = {
    k: len(v) for k, v in KernelRestarter(callbacks={"restart": [print]}).callbacks.items()
}
out["threaded_ioloop_thread"] = repr(ThreadedKernelClient().ioloop_thread)
for cls in (BlockingKernelClient, AsyncKernelClient):
    ctx = cls().context
    out[cls.__name__ + ".context"] = f"{type(ctx).__module__}.{type(ctx).__name__}"
""",
}


def _run_snippet(python: str, code: str) -> dict[str, Any]:
    script = _PRELUDE + textwrap.dedent(code) + "\nprint(json.dumps(out, sort_keys=True))\n"
    result: dict[str, Any] = run_json(python, "-c", script, last_line=True)
    return result


@pytest.mark.parametrize("snippet", sorted(SNIPPETS))
def test_behaviour_matches_upstream(snippet: str, kernel_python: str) -> None:
    expected = _run_snippet(kernel_python, SNIPPETS[snippet])
    got = _run_snippet(sys.executable, SNIPPETS[snippet])
    diff = {k: (expected.get(k), got.get(k)) for k in expected.keys() | got.keys()}
    diff = {k: v for k, v in diff.items() if v[0] != v[1]}
    assert not diff, "upstream vs ours:\n" + "\n".join(f"  {k}: {v}" for k, v in diff.items())


# -- a Type trait set by a host: the threaded client's channel classes ---------------------


def test_threaded_client_uses_given_channel_class(kernel_python: str) -> None:
    """A channel class passed as ``iopub_channel_class=`` (a Type trait, not config, as
    upstream) receives the kernel's messages on the thread ``ioloop_thread`` names."""
    received: queue.Queue[tuple[str, str]] = queue.Queue()

    class RecordingChannel(ThreadedZMQSocketChannel):
        def call_handlers(self, msg: dict[str, Any]) -> None:
            received.put((msg["msg_type"], threading.current_thread().name))

    with running_kernel(kernel_python) as kernel:
        kc = ThreadedKernelClient(iopub_channel_class=RecordingChannel)
        kc.load_connection_info(kernel.info)
        kc.start_channels()
        try:
            assert kc.ioloop_thread is not None and kc.ioloop_thread.is_alive()
            # A SUB socket misses what is published before its subscription reaches the
            # kernel (upstream's ThreadedKernelClient has no wait either), so nudge with
            # kernel_info until IOPub delivers something (its busy/idle, or the welcome)
            # before the execute whose result the test waits for.
            seen: list[tuple[str, str]] = []
            deadline = time.monotonic() + 30
            while not seen:
                assert time.monotonic() < deadline, "IOPub never delivered a message"
                kc.kernel_info()
                try:
                    seen.append(received.get(timeout=1))
                except queue.Empty:
                    pass
            kc.execute("1 + 1")
            while ("execute_result", kc.ioloop_thread.name) not in seen:
                seen.append(received.get(timeout=30))
        finally:
            kc.stop_channels()
        assert kc.ioloop_thread is None
