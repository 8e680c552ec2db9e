"""Interrupting a kernel on Windows through a shared event (upstream `win_interrupt`).

Windows has no SIGINT to send to another process, so the parent creates an unnamed event whose
handle the child inherits; the parent tells the child the handle's number (ipykernel reads it
from ``JPY_INTERRUPT_EVENT`` or ``--interrupt``) and signals the event to ask for an interrupt.
The kernel's side of this is ipykernel's ``ParentPollerWindows``.

The module imports on every platform, because code that merely *mentions* Windows interrupts
(launchers, provisioners) imports it unconditionally. Calling either function elsewhere raises
`NotImplementedError` naming the platform; upstream fails there with an opaque
``AttributeError`` about ``ctypes.windll``.

We talk to ``kernel32`` through our own ``WinDLL`` instance with declared argument and result
types: the shared ``ctypes.windll`` object is process-global, so setting ``argtypes`` on it
could clash with other libraries, and without a declared ``restype`` ctypes would truncate a
handle to a C ``int``.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

__all__ = ["create_interrupt_event", "send_interrupt"]


class _SecurityAttributes(ctypes.Structure):
    """Win32 ``SECURITY_ATTRIBUTES``: the only way to make a new handle inheritable.

    Field types follow the Win32 declaration (``DWORD``, ``LPVOID``, ``BOOL``); they are spelled
    with fixed-size ctypes so the layout can be built (and checked by tests) on any platform.
    """

    _fields_ = [
        ("nLength", ctypes.c_uint32),
        ("lpSecurityDescriptor", ctypes.c_void_p),
        ("bInheritHandle", ctypes.c_int32),
    ]


def _inheritable_attributes() -> _SecurityAttributes:
    """Attributes for a handle that child processes inherit, with the default security."""
    attrs = _SecurityAttributes()
    attrs.nLength = ctypes.sizeof(_SecurityAttributes)
    attrs.lpSecurityDescriptor = None
    attrs.bInheritHandle = 1
    return attrs


def _not_windows(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"jupyter_client.win_interrupt.{what}() needs Windows (a kernel32 event), but this"
        f" platform is {sys.platform!r}. Elsewhere kernels are interrupted with SIGINT:"
        " use KernelManager.interrupt_kernel() or signal_kernel(signal.SIGINT)."
    )


@functools.cache
def _kernel32() -> Any:
    """Our private, typed binding of the ``kernel32`` functions we call (loaded once)."""
    if sys.platform != "win32":
        raise _not_windows("_kernel32")
    from ctypes import wintypes

    lib = ctypes.WinDLL("kernel32", use_last_error=True)
    lib.CreateEventW.argtypes = [
        ctypes.POINTER(_SecurityAttributes),
        wintypes.BOOL,  # bManualReset
        wintypes.BOOL,  # bInitialState
        wintypes.LPCWSTR,  # lpName
    ]
    lib.CreateEventW.restype = wintypes.HANDLE
    lib.SetEvent.argtypes = [wintypes.HANDLE]
    lib.SetEvent.restype = wintypes.BOOL
    return lib


def create_interrupt_event() -> Any:
    """Create the event a parent uses to interrupt a child it is about to launch.

    The event is unnamed, auto-reset (one ``send_interrupt`` wakes the kernel's poller once)
    and initially unset; its handle is inheritable, so it must exist before the child is
    spawned. Returns the handle as an ``int`` (what upstream returns, and what goes into
    ``JPY_INTERRUPT_EVENT``). A failure raises :class:`OSError` with Windows' reason, where
    upstream would hand back ``0``.
    """
    # An inline platform test (not a helper) lets type checkers skip the Windows-only calls.
    if sys.platform != "win32":
        raise _not_windows("create_interrupt_event")
    attrs = _inheritable_attributes()
    handle = _kernel32().CreateEventW(ctypes.byref(attrs), False, False, None)
    if not handle:
        err = ctypes.get_last_error()
        raise ctypes.WinError(
            err, f"CreateEventW for an interrupt event failed: {ctypes.FormatError(err)}"
        )
    return handle


def send_interrupt(interrupt_handle: Any) -> None:
    """Signal ``interrupt_handle`` (from :func:`create_interrupt_event`) to interrupt the child.

    Raises :class:`OSError` naming the handle if Windows refuses (for example a closed or
    bogus handle); upstream ignores the failure and the interrupt silently never arrives.
    """
    if sys.platform != "win32":
        raise _not_windows("send_interrupt")
    if not _kernel32().SetEvent(interrupt_handle):
        err = ctypes.get_last_error()
        raise ctypes.WinError(
            err,
            f"SetEvent on interrupt event {interrupt_handle!r} failed: {ctypes.FormatError(err)}",
        )
