"""jupyter_client.win_interrupt: importable everywhere, a clear error off Windows.

The Windows path itself (CreateEventW / SetEvent) cannot run here; what can be checked on
Linux is the module's surface against upstream's and the inheritable security attributes.
"""

from __future__ import annotations

import ctypes
import sys

import pytest
from kernel_helpers import own_public_callables, run_under_upstream

from jupyter_client import win_interrupt

DUMP_NAMES = """
import importlib, inspect, json, sys
mod = importlib.import_module(sys.argv[1])
own = sorted(n for n, v in vars(mod).items() if not n.startswith("_")
             and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == mod.__name__)
print(json.dumps({"own": own, "all": getattr(mod, "__all__", None), "file": mod.__file__}))
"""


def test_public_names_match_upstream(kernel_python: str) -> None:
    upstream = run_under_upstream(kernel_python, DUMP_NAMES, "jupyter_client.win_interrupt")
    assert ".venv-kernel" in upstream["file"]
    ours = own_public_callables(win_interrupt)
    assert ours == upstream["own"] == ["create_interrupt_event", "send_interrupt"]
    # upstream has no __all__; ours lists exactly its public functions.
    assert sorted(win_interrupt.__all__) == upstream["own"]


@pytest.mark.skipif(sys.platform == "win32", reason="the Windows path works there")
def test_create_interrupt_event_names_the_platform() -> None:
    with pytest.raises(NotImplementedError, match=r"create_interrupt_event\(\) needs Windows") as e:
        win_interrupt.create_interrupt_event()
    assert repr(sys.platform) in str(e.value)
    assert "SIGINT" in str(e.value)


@pytest.mark.skipif(sys.platform == "win32", reason="the Windows path works there")
def test_send_interrupt_names_the_platform() -> None:
    with pytest.raises(NotImplementedError, match=r"send_interrupt\(\) needs Windows") as e:
        win_interrupt.send_interrupt(1234)
    assert repr(sys.platform) in str(e.value)


def test_security_attributes_make_the_handle_inheritable() -> None:
    attrs = win_interrupt._inheritable_attributes()
    assert attrs.nLength == ctypes.sizeof(win_interrupt._SecurityAttributes)
    assert attrs.bInheritHandle == 1
    assert not attrs.lpSecurityDescriptor  # default security descriptor
    # Win32 layout: DWORD, then a pointer (aligned), then BOOL.
    fields = win_interrupt._SecurityAttributes._fields_
    assert [field[0] for field in fields] == ["nLength", "lpSecurityDescriptor", "bInheritHandle"]
    assert ctypes.sizeof(win_interrupt._SecurityAttributes) == (
        3 * ctypes.sizeof(ctypes.c_void_p) if ctypes.sizeof(ctypes.c_void_p) == 8 else 12
    )
