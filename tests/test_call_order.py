"""Subclasses see upstream's call order: the same operations, the same overridable calls.

Jupyter Server's MappingKernelManager, gateway provisioners and test doubles override the
``_async_*`` steps of the kernel managers, the per-kernel calls of the multi-kernel managers and
the provisioner API, and rely on *which* of them upstream calls, in which order, with which
``now``/``restart``. So one script (:data:`SCRIPT`) defines recording subclasses (each override
logs its name and key arguments, then delegates to the base class) and drives a fixed sequence of
operations against the minimal test kernel; it runs once with our package and once with
upstream 8.10 in the kernel venv, and the two logs must be equal, up to :data:`ALLOWED`.

An automatic restart (the kernel killed, the IOLoop manager's restarter relaunching it) is
compared the same way: the ``restart`` callbacks, then the public ``restart_kernel(now=True)``.

The kernel is asked for ``kernel_info`` before every restart or shutdown, so that the interrupt
sent first always finds its SIGINT handler installed (a kernel that dies of it would end the
sequence early, differently on each run).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from kernel_helpers import MINIMAL_KERNEL, run_json, run_under_upstream

#: Deliberate differences, each listed in docs/compatibility.md ("Overridable call order").
#: Entries dropped from both logs before they are compared:
ALLOWED_DROPPED = {
    # Upstream waits for an exit by polling ``_async_is_alive`` (hence ``provisioner.poll``)
    # every 0.1 s, a number of times that depends on timing; we await the exit event.
    "_async_is_alive",
    "prov.poll",
}
#: Entries dropped from upstream's log only: upstream's LocalProvisioner.kill sends SIGKILL
#: through its own ``send_signal``; ours asks the kernel actor (a tree kill, an expected exit).
ALLOWED_UPSTREAM_ONLY = {"prov.send_signal(signum=9)"}
#: Our entries whose arguments differ on purpose -> upstream's. ``restart_kernel(now=True)``:
#: upstream drops ``restart`` on the way to the kill; we pass it on, so the kernel actor keeps
#: a delegated restart and the ports' reservations for the relaunch.
ALLOWED_OURS_RENAMED = {
    "_async_kill_kernel(restart=True)": "_async_kill_kernel(restart=False)",
    "prov.kill(restart=True)": "prov.kill(restart=False)",
}

SCRIPT = r'''
import asyncio, inspect, json, os, sys, tempfile, uuid

from jupyter_client.ioloop import AsyncIOLoopKernelManager, IOLoopKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_client.multikernelmanager import AsyncMultiKernelManager, MultiKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets.config import Config

argv, which = json.loads(sys.argv[1]), sys.argv[2]
KEYS = ("now", "restart", "newports", "signum")

KM_STEPS = [
    "_async_start_kernel", "_async_pre_start_kernel", "_async_launch_kernel",
    "_async_post_start_kernel", "start_restarter", "stop_restarter", "_async_shutdown_kernel",
    "_async_request_shutdown", "_async_finish_shutdown", "_async_cleanup_resources",
    "_async_restart_kernel", "_async_interrupt_kernel", "_async_signal_kernel",
    "_async_send_kernel_sigterm", "_async_kill_kernel", "_async_is_alive",
]
KM_PUBLIC = ["start_kernel", "shutdown_kernel", "restart_kernel", "interrupt_kernel"]
PROV_STEPS = [
    "pre_launch", "launch_kernel", "post_launch", "send_signal", "kill", "terminate", "wait",
    "cleanup", "shutdown_requested", "poll",
]
MKM_STEPS = [
    "pre_start_kernel", "_async_start_kernel", "_async_shutdown_kernel", "remove_kernel",
    "_async_shutdown_all", "_async_restart_kernel", "interrupt_kernel", "start_kernel",
    "shutdown_kernel", "restart_kernel", "shutdown_all",
]


def entry(prefix, name, fn, self, args, kwargs):
    # Bound against the coroutine's signature: upstream's blocking wrappers take (*a, **kw).
    fn = getattr(type(self), "_async_" + name, fn)
    try:
        bound = inspect.signature(fn).bind(self, *args, **kwargs)
        bound.apply_defaults()
        params = bound.arguments
    except TypeError:
        params = kwargs
    keys = ",".join(
        f"{k}={int(params[k]) if k == 'signum' else params[k]!r}" for k in KEYS if k in params
    )
    return f"{prefix}{name}({keys})"


def recorder(base, names, prefix, log_of):
    """A subclass of ``base`` whose methods ``names`` log, then delegate."""
    ns = {}
    for name in names:
        fn = getattr(base, name)

        def make(name=name, fn=fn):
            if inspect.iscoroutinefunction(fn):
                async def method(self, *a, **kw):
                    log_of(self).append(entry(prefix, name, fn, self, a, kw))
                    return await fn(self, *a, **kw)
            else:
                def method(self, *a, **kw):
                    log_of(self).append(entry(prefix, name, fn, self, a, kw))
                    return fn(self, *a, **kw)
            return method

        ns[name] = make()
    return type("Recording" + base.__name__, (base,), ns)


RecProv = recorder(LocalProvisioner, PROV_STEPS, "prov.", lambda p: p.parent.calls)


def km_recorder(base):
    cls = recorder(base, KM_STEPS + KM_PUBLIC, "", lambda km: km.calls)
    pre = cls._async_pre_start_kernel

    async def _async_pre_start_kernel(self, **kw):
        # Both implementations keep a provisioner that is already set: ours records.
        kid = kw.pop("kernel_id", None)
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kid or str(uuid.uuid4())
            self.provisioner = RecProv(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await pre(self, **kw)

    def init(self, **kw):
        base.__init__(self, **kw)
        self.calls = []

    cls._async_pre_start_kernel = _async_pre_start_kernel
    cls.__init__ = init
    return cls


def mkm_recorder(base):
    cls = recorder(base, MKM_STEPS, "mkm.", lambda m: m.calls)

    def init(self, **kw):
        base.__init__(self, **kw)
        self.calls = []

    cls.__init__ = init
    return cls


def spec_manager():
    d = tempfile.mkdtemp(prefix="jc-call-order-")
    os.makedirs(os.path.join(d, "minimal"))
    with open(os.path.join(d, "minimal", "kernel.json"), "w") as f:
        json.dump({"argv": argv, "display_name": "minimal", "language": "python"}, f)
    return KernelSpecManager(kernel_dirs=[d])


def ready(km):
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=30)
    finally:
        kc.stop_channels()


async def aready(km):
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=30)
    finally:
        kc.stop_channels()


def mark(km, what):
    km.calls.append("-- " + what)


#: The single-kernel script. Upstream destroys a manager's zmq context when it shuts its
#: kernel down (not for a restart), so the second start is on a fresh manager.
KM_SCRIPT = [
    [("start", "start_kernel", {}), ("restart now=False", "restart_kernel", {"now": False}),
     ("restart now=True", "restart_kernel", {"now": True}), ("interrupt", "interrupt_kernel", {}),
     ("shutdown now=False", "shutdown_kernel", {"now": False})],
    [("start", "start_kernel", {}), ("shutdown now=True", "shutdown_kernel", {"now": True})],
]


def run_km():
    calls = []
    for phase in KM_SCRIPT:
        km = km_recorder(KernelManager)(kernel_name="minimal", kernel_spec_manager=spec_manager())
        for what, op, kw in phase:
            mark(km, what)
            getattr(km, op)(**kw)
            if not op.startswith("shutdown"):
                ready(km)
        calls += km.calls
    return calls


async def run_akm():
    calls = []
    for phase in KM_SCRIPT:
        km = km_recorder(AsyncKernelManager)(
            kernel_name="minimal", kernel_spec_manager=spec_manager()
        )
        for what, op, kw in phase:
            mark(km, what)
            await getattr(km, op)(**kw)
            if not op.startswith("shutdown"):
                await aready(km)
        calls += km.calls
    return calls


def multi_result(mkm, kms):
    return {"mkm": mkm.calls, **{f"k{i}": km.calls for i, km in enumerate(kms)}}


def run_mkm():
    mkm = mkm_recorder(MultiKernelManager)(kernel_spec_manager=spec_manager())
    mkm.kernel_manager_factory = km_recorder(IOLoopKernelManager)
    ids = [mkm.start_kernel(kernel_name="minimal") for _ in range(2)]
    kms = [mkm.get_kernel(i) for i in ids]
    for km in kms:
        ready(km)
    mkm.restart_kernel(ids[0], now=False)
    ready(kms[0])
    mkm.interrupt_kernel(ids[1])
    ready(kms[1])
    mkm.shutdown_all()
    return multi_result(mkm, kms)


async def run_amkm():
    mkm = mkm_recorder(AsyncMultiKernelManager)(kernel_spec_manager=spec_manager())
    mkm.kernel_manager_factory = km_recorder(AsyncIOLoopKernelManager)
    ids = [await mkm.start_kernel(kernel_name="minimal") for _ in range(2)]
    kms = [mkm.get_kernel(i) for i in ids]
    for km in kms:
        await aready(km)
    await mkm.restart_kernel(ids[0], now=False)
    await aready(kms[0])
    mkm.interrupt_kernel(ids[1])
    await aready(kms[1])
    await mkm.shutdown_all()
    return multi_result(mkm, kms)


async def run_auto():
    """An automatic restart: the kernel is killed, the restarter relaunches it."""
    km = km_recorder(AsyncIOLoopKernelManager)(
        kernel_name="minimal",
        kernel_spec_manager=spec_manager(),
        # upstream's restarter polls every time_to_dead; ours is woken by the exit event
        config=Config({"KernelRestarter": {"time_to_dead": 0.2}}),
    )
    restarted = asyncio.Event()

    def on_restart():
        km.calls.append("-- restart callback")
        restarted.set()

    await km.start_kernel()
    await aready(km)
    km.add_restart_callback(on_restart)
    mark(km, "kill")
    os.kill(km.provisioner.pid, 9)
    await asyncio.wait_for(restarted.wait(), 30)
    while km.provisioner is None or not km.ready.done():
        await asyncio.sleep(0.05)
    await aready(km)
    mark(km, "shutdown now=False")
    await km.shutdown_kernel(now=False)
    return km.calls


runs = {
    "auto": lambda: asyncio.run(run_auto()),
    "km": run_km,
    "akm": lambda: asyncio.run(run_akm()),
    "mkm": run_mkm,
    "amkm": lambda: asyncio.run(run_amkm()),
}
print(json.dumps(runs[which]()))
'''

KERNEL_ARGV = [sys.executable, MINIMAL_KERNEL, "-f", "{connection_file}"]


def normalized(log: list[str], *, ours: bool) -> list[str]:
    """The log with the allowed differences (above) taken out."""
    out = []
    for item in log:
        if item.split("(", 1)[0] in ALLOWED_DROPPED:
            continue
        if ours:
            item = ALLOWED_OURS_RENAMED.get(item, item)
        elif item in ALLOWED_UPSTREAM_ONLY:
            continue
        out.append(item)
    return out


def logs(which: str, kernel_python: str) -> tuple[Any, Any]:
    arg = json.dumps(KERNEL_ARGV)
    ours = run_json(sys.executable, "-c", SCRIPT, arg, which, timeout=90, last_line=True)
    theirs = run_under_upstream(kernel_python, SCRIPT, arg, which)
    return ours, theirs


@pytest.mark.parametrize("which", ["km", "akm", "auto"])
def test_kernel_manager_call_order(which: str, kernel_python: str) -> None:
    """The single-kernel script on both managers, and an automatic restart (``auto``)."""
    ours, theirs = logs(which, kernel_python)
    assert normalized(ours, ours=True) == normalized(theirs, ours=False)


@pytest.mark.parametrize("which", ["mkm", "amkm"])
def test_multi_kernel_manager_call_order(which: str, kernel_python: str) -> None:
    """Per kernel (shutdown_all stops them concurrently, so only each kernel's order is
    fixed) and for the multi-kernel manager itself."""
    ours, theirs = logs(which, kernel_python)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert normalized(ours[key], ours=True) == normalized(theirs[key], ours=False), key
