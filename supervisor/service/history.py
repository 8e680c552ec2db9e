"""The kernels that were stopped: their last record and their output, for a while.

``stop`` used to delete a kernel's log with the kernel, so "why did it die" had no answer once
someone cleaned up. Now a stopped kernel's record (``last_exit``, its events, its restarts)
moves here and its output file is kept as ``kernel-<id>.stopped.log``; ``logs ID`` (and
``--output``) still work, and ``status --all`` lists them. The history is bounded: the
:data:`MAX` most recently stopped kernels, the oldest's log removed when it falls out. It is
part of the state file (it survives a supervisor crash) and goes with a clean shutdown, as
the rest of the runtime dir's files do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict
from typing import Any

from jupyter_client.supervisor.service.state import KernelRecord, Paths, inside

__all__ = ["MAX", "History"]

log = logging.getLogger("jupyter_client.supervisor.service.history")

#: Stopped kernels kept.
MAX = 50


class History:
    def __init__(self, paths: Paths, saved: list[KernelRecord] | None = None) -> None:
        self.paths = paths
        self.records: OrderedDict[str, KernelRecord] = OrderedDict()
        for rec in saved or ():
            self.records[rec.id] = rec

    def add(self, rec: KernelRecord) -> None:
        """``rec``'s kernel was stopped: keep its record, and its output under a new name."""
        with contextlib.suppress(OSError):
            os.replace(self.paths.kernel_log(rec.id), self.paths.stopped_log(rec.id))
        rec.state, rec.pid, rec.create_time = "stopped", None, None
        rec.stopped_at = time.time()
        self.records.pop(rec.id, None)
        self.records[rec.id] = rec
        while len(self.records) > MAX:
            self._remove(self.records.popitem(last=False)[1])

    def get(self, kid: str) -> KernelRecord | None:
        """The stopped kernel ``kid`` (or the one whose id it uniquely begins)."""
        if kid in self.records:
            return self.records[kid]
        matches = [r for k, r in self.records.items() if kid and k.startswith(kid)]
        return matches[0] if len(matches) == 1 else None

    def forget(self, kid: str) -> None:
        """A new kernel takes the id: the old one's history goes."""
        rec = self.records.pop(kid, None)
        if rec is not None:
            self._remove(rec)

    def clear(self) -> None:
        for rec in self.records.values():
            self._remove(rec)
        self.records.clear()

    def _remove(self, rec: KernelRecord) -> None:
        path = self.paths.stopped_log(rec.id)
        if inside(self.paths, path):
            with contextlib.suppress(OSError):
                os.unlink(path)

    def rows(self) -> list[dict[str, Any]]:
        """``status --all``'s rows for the stopped kernels, newest last."""
        from jupyter_client.supervisor.service.record import record_row

        return [record_row(rec) for rec in self.records.values()]
