"""Taking over from a supervisor that died: the previous run's kernels, one at a time.

A kernel id outlives its supervisor (service/state.py keeps the table). For each record the
next ``serve``:

* adopts the process if it still runs (same pid *and* create time), or the successor an
  interrupted restart spawned (a process whose argv names the kernel's connection file),
  killing any other process using that file: never two processes for one id;
* rebuilds a lost or damaged connection file from the record's copy, or stops a kernel that
  no client could reach any more;
* restarts a kernel that died while no supervisor ran, if its policy would have
  (:func:`lost_while_unsupervised`), and forgets the others.

Each record is handled on its own, so one damaged record costs only its own kernel. The
functions drive the :class:`~jupyter_client.supervisor.service.Service` through its public
methods (``new_supervised``, ``new_actor``, ``launch_actor``, ``remove_files``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

import psutil

from jupyter_client.supervisor.exits import exit_record
from jupyter_client.supervisor.kernel import KernelStartError
from jupyter_client.supervisor.service.launching import (
    ResolvedSpec,
    UnknownKernelSpec,
    resolve_spec,
)
from jupyter_client.supervisor.service.state import KernelRecord, SupervisorState, same_process

if TYPE_CHECKING:
    from jupyter_client.supervisor.service.daemon import Service

__all__ = ["kill_tree", "lost_while_unsupervised", "processes_using", "readopt_all"]

log = logging.getLogger("jupyter_client.supervisor.service.daemon")


async def readopt_all(svc: Service) -> None:
    """Take over the kernels of the previous run's state (see the module docstring)."""
    saved = svc.saved
    if saved is None:
        return
    found = processes_using(saved)
    for rec in saved.kernels.values():
        candidates = [p for p in found.get(rec.id, []) if p.pid != rec.pid]
        if not same_process(rec.pid, rec.create_time) and candidates:
            # died while a restart was in flight: its successor was spawned but never
            # recorded. It is the kernel now.
            newest = max(candidates, key=lambda p: p.create_time())
            candidates.remove(newest)
            log.info("kernel %s: adopting pid %d (started by an interrupted restart)",
                     rec.id, newest.pid)  # fmt: skip
            rec.pid, rec.create_time = newest.pid, newest.create_time()
        for stray in candidates:  # never two processes for one kernel id
            log.warning("kernel %s: killing stray process %d", rec.id, stray.pid)
            with contextlib.suppress(psutil.Error):
                stray.kill()
        if same_process(rec.pid, rec.create_time):
            await _adopt(svc, rec)
        elif lost_while_unsupervised(rec):
            await _relaunch_lost(svc, rec)
        else:
            log.info("kernel %s (pid %s) is gone; forgetting it", rec.id, rec.pid)
            svc.remove_files(rec)


async def _relaunch_lost(svc: Service, rec: KernelRecord) -> None:
    """A kernel that died while no supervisor ran is restarted, as its policy would have
    (docker restarts such containers when its daemon comes back): the same id, and the
    same ports and key when we still have them, so clients made earlier work again."""
    try:
        spec = resolve_spec(rec.name, rec.kernel_path)
    except (UnknownKernelSpec, OSError, ValueError) as exc:
        log.warning("kernel %s died while unsupervised; kernelspec %r unavailable (%s): "
                    "forgetting it", rec.id, rec.name, exc)  # fmt: skip
        svc.remove_files(rec)
        return
    k = svc.new_supervised(rec, spec)
    k.launcher.restore(rec.connection)
    k.restarts_base += 1
    k.add_event("died", pid=rec.pid, detail="while no supervisor was running "
                "(exit status unknown)")  # fmt: skip
    rec.last_exit = k.exits.last = exit_record(None, time.time(),
                                               detail="died while no supervisor ran")  # fmt: skip
    log.warning("kernel %s (pid %s) died while no supervisor was running; restarting it",
                rec.id, rec.pid)  # fmt: skip
    try:
        await svc.launch_actor(k)
    except KernelStartError as exc:
        log.warning("kernel %s: restart failed (%s); forgetting it", rec.id,
                    exc.__cause__ or exc)  # fmt: skip
        svc.kernels.pop(rec.id, None)
        svc.remove_files(rec, k.launcher.info)
        return
    svc.relaunched += 1


async def _adopt(svc: Service, rec: KernelRecord) -> None:
    assert rec.pid is not None
    try:
        spec = resolve_spec(rec.name, rec.kernel_path)
    except (UnknownKernelSpec, OSError, ValueError) as exc:
        log.warning("kernel %s: kernelspec %r unavailable (%s): no restarts", rec.id,
                    rec.name, exc)  # fmt: skip
        spec = ResolvedSpec(rec.name, "", [])
    k = svc.new_supervised(rec, spec)
    info = k.launcher.restore(rec.connection)
    if info is None:
        log.warning("kernel %s (pid %d): its connection file %s is missing or damaged and "
                    "the state holds no copy; stopping the kernel (no client could reach "
                    "it)", rec.id, rec.pid, rec.connection_file)  # fmt: skip
        svc.kernels.pop(rec.id, None)
        kill_tree(rec.pid)
        svc.remove_files(rec)
        return
    if time.time() - rec.started_at >= rec.stable_start_time:
        k.policy.initial_startup = False
    assert rec.create_time is not None
    actor = await svc.new_actor(k)
    await actor.adopt(rec.pid, rec.create_time, info)
    log.info("kernel %s (pid %d) re-adopted", rec.id, rec.pid)


def lost_while_unsupervised(rec: KernelRecord) -> bool:
    """A kernel that ran, was meant to run on (not being stopped, not given up on) and still
    has restarts left: it died while no supervisor was watching."""
    return (rec.started_at > 0 and rec.state not in ("stopping", "stopped", "dead", "exited")
            and rec.restarts < rec.restart_limit)  # fmt: skip


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` (already identified by pid and create time) and its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=5)


def processes_using(saved: SupervisorState) -> dict[str, list[psutil.Process]]:
    """Our live processes whose argv names a saved kernel's connection file, by kernel id
    (kernelspec argvs pass ``{connection_file}``; the files are ours, named by kernel id)."""
    files = {rec.connection_file: rec.id for rec in saved.kernels.values()}
    uid = os.getuid()
    found: dict[str, list[psutil.Process]] = {}
    for p in psutil.process_iter(["cmdline", "uids", "status"]):
        try:
            if p.info["uids"] is None or p.info["uids"].real != uid:
                continue
            if p.info["status"] == psutil.STATUS_ZOMBIE or p.pid == os.getpid():
                continue
            for arg in p.info["cmdline"] or ():
                if arg in files:
                    found.setdefault(files[arg], []).append(p)
                    break
        except psutil.Error:
            continue
    return found
