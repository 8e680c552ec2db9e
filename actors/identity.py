"""Is this pid still the process we knew? (pid plus create time, psutil only.)

A pid is reused once its process is reaped; the create time pins which process it names.
Its own module because the supervisor's short-lived CLI commands need it (to list a dead
supervisor's kernels) without importing trio.
"""

from __future__ import annotations

import psutil

__all__ = ["same_process"]


def same_process(pid: int | None, create_time: float | None) -> bool:
    """Whether ``pid`` is still the process that was created at ``create_time`` (and is not
    a zombie: an exited kernel nobody has reaped yet is gone for our purposes)."""
    if not pid or create_time is None:
        return False
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.05:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
