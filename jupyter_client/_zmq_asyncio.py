"""``zmq.asyncio`` reachable after ``import jupyter_client``, as upstream leaves it, for free.

Upstream's ``import jupyter_client`` imports ``zmq.asyncio``, and code relies on that side
effect: pytest-jupyter's ``jp_zmq_context`` fixture does ``import zmq; zmq.asyncio.Context()``
without importing ``zmq.asyncio`` itself. Importing it costs about 110 ms (zmq, then asyncio);
our ``import jupyter_client`` imports neither. So we promise only what is observable: once zmq
is imported (by us or by anyone), ``zmq.asyncio`` is an attribute of it, a module that loads
itself on first use (:class:`importlib.util.LazyLoader`).

If zmq is already imported, the lazy module is attached at once; otherwise a one-shot finder
on ``sys.meta_path`` lets zmq's own loader run and attaches it right after.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any


def _attach(zmq: types.ModuleType) -> None:
    """Make ``zmq.asyncio`` an attribute of ``zmq``, loaded on first attribute access."""
    if "asyncio" in vars(zmq):
        return
    module = sys.modules.get("zmq.asyncio")
    if module is None:
        spec = importlib.util.find_spec("zmq.asyncio")
        if spec is None or spec.loader is None:
            return
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["zmq.asyncio"] = module
        loader.exec_module(module)  # lazily: runs on first attribute access
    zmq.asyncio = module  # type: ignore[attr-defined]


class _Loader(importlib.abc.Loader):
    """zmq's own loader, then :func:`_attach`."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._inner.exec_module(module)
        _attach(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: on zmq's import it removes itself and wraps zmq's loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "zmq":
            return None
        _uninstall()
        spec = importlib.util.find_spec("zmq")
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def install() -> None:
    """Called by ``import jupyter_client``; idempotent."""
    zmq = sys.modules.get("zmq")
    if zmq is not None:
        _attach(zmq)
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
