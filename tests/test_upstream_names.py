"""Names upstream 8.10's modules expose that consumers reach for (issue: drop-in defects)."""

from __future__ import annotations

import importlib.metadata
import sys
from datetime import datetime
from typing import Any

import pytest
from kernel_helpers import run_json

import jupyter_client


def test_submodules_reachable_from_the_package_as_upstream() -> None:
    for name in ("ioloop", "restarter", "ssh"):  # upstream's `import jupyter_client` loads them
        assert name in dir(jupyter_client)
        assert getattr(jupyter_client, name).__name__ == f"jupyter_client.{name}"


def test_factory_entry_point_names_without_their_import_cost() -> None:
    from jupyter_client.provisioning import factory
    from jupyter_client.provisioning.factory import EntryPoint, entry_points

    assert EntryPoint is importlib.metadata.EntryPoint
    assert entry_points is importlib.metadata.entry_points
    assert {"EntryPoint", "entry_points", "KernelProvisionerFactory"} <= set(dir(factory))


def _fresh(code: str) -> Any:
    return run_json(sys.executable, "-c", code)


def test_zmq_asyncio_reachable_after_import_as_upstream_but_loaded_only_when_used() -> None:
    """pytest-jupyter's fixture does ``import zmq; zmq.asyncio.Context()`` after importing
    jupyter_client; ours must not pay for zmq (or asyncio) at ``import jupyter_client``."""
    got = _fresh(
        "import json, sys, jupyter_client\n"
        "cheap = 'zmq' not in sys.modules and 'asyncio' not in sys.modules\n"
        "import zmq\n"
        "lazy = 'asyncio' not in sys.modules\n"
        "ctx = zmq.asyncio.Context()\n"
        "ok = type(ctx).__module__ == 'zmq.asyncio'\n"
        "ctx.term()\n"
        "import zmq.asyncio as za\n"
        "print(json.dumps([cheap, lazy, ok, za is zmq.asyncio]))"
    )
    assert got == [True, True, True, True]
    # zmq imported first: attached at once, still lazily
    got = _fresh(
        "import json, sys, zmq, jupyter_client\n"
        "lazy = 'asyncio' not in sys.modules\n"
        "print(json.dumps([lazy, zmq.asyncio.Socket.__name__]))"
    )
    assert got == [True, "Socket"]


def test_a_lazy_zmq_asyncio_is_not_loaded_by_sending() -> None:
    """The Session checks for asyncio sockets on every send; that check must not load it."""
    got = _fresh(
        "import json, sys, zmq, jupyter_client\n"
        "from jupyter_client.session import Session\n"
        "ctx = zmq.Context(); a = ctx.socket(zmq.PAIR); b = ctx.socket(zmq.PAIR)\n"
        "a.bind('inproc://x'); b.connect('inproc://x')\n"
        "s = Session(key=b'k'); s.send(a, 'm', {}); idents, msg = s.recv(b, mode=0)\n"
        "print(json.dumps([msg['header']['msg_type'], 'asyncio' in sys.modules]))\n"
        "a.close(); b.close(); ctx.term()"
    )
    assert got == ["m", False]


def test_session_json_packer_is_the_json_packer() -> None:
    from jupyter_client import session

    assert session.Session(packer="json").pack is session.json_packer
    assert session.Session().pack is session.json_packer
    assert session.Session().unpack is session.json_unpacker
    s = session.Session(packer="jupyter_client.session.json_packer")
    assert s.pack is session.json_packer
    assert session.std_json_packer({"a": 1}) == b'{"a": 1}'  # upstream's stdlib bytes


def test_jsonutil_tzlocal_has_each_moments_offset() -> None:
    """dateutil's ``tzlocal()`` semantics: winter and summer dates get their own offsets (a
    fixed "offset now" would be wrong for one of them)."""
    got = _fresh(
        "import json, os, time\n"
        "os.environ['TZ'] = 'America/New_York'; time.tzset()\n"
        "from datetime import datetime, timezone\n"
        "from jupyter_client.jsonutil import tzlocal\n"
        "w = datetime(2026, 1, 8, 12).replace(tzinfo=tzlocal())\n"
        "s = datetime(2026, 7, 8, 12).replace(tzinfo=tzlocal())\n"
        "u = datetime(2026, 7, 8, 16, tzinfo=timezone.utc).astimezone(tzlocal())\n"
        "print(json.dumps([w.utcoffset().total_seconds(), s.utcoffset().total_seconds(),\n"
        "  s.dst().total_seconds(), w.tzname(), s.tzname(), u.hour, tzlocal() == tzlocal()]))"
    )
    assert got == [-5 * 3600, -4 * 3600, 3600, "EST", "EDT", 12, True]


def test_jsonutil_tzlocal_agrees_with_dateutil() -> None:
    tz = pytest.importorskip("dateutil.tz", reason="dateutil is not installed beside ours")
    from jupyter_client.jsonutil import tzlocal

    for month in range(1, 13):
        for hour in (0, 3, 12):
            d = datetime(2026, month, 8, hour, 30)
            assert (
                d.replace(tzinfo=tzlocal()).utcoffset()
                == d.replace(tzinfo=tz.tzlocal()).utcoffset()
            )
