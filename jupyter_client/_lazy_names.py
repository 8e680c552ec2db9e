"""Module attributes served on first use (PEP 562), the one mechanism for all of the façade.

Two kinds of names go through here. The package's own public names (``jupyter_client.
KernelManager``), so that ``import jupyter_client`` stays cheap for tools that need one corner of
it. And the names upstream's modules happen to expose because they imported them
(``jupyter_client.session.compare_digest``, ``jupyter_client.client.Session``,
``jupyter_client.multikernelmanager.utcnow``, ...): code written against upstream imports them
from there, so each module declares upstream's list beside its own code and pays nothing for it
until someone asks.

A target is ``"package.module"`` (the module itself) or ``"package.module:attr"``; a leading
``?`` makes an optional one: ``None`` when the module is not installed, as upstream sets
``orjson = None`` and ``paramiko = None``. Any other failed import is an ``AttributeError``
saying what was missing, so ``hasattr`` stays truthful (the tornado names resolve only where
tornado is installed: we never import it ourselves).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def resolve(target: str) -> Any:
    """The object ``target`` names (see the module docstring); ImportError if it can't be had."""
    optional = target.startswith("?")
    module_name, _, attr = target.lstrip("?").partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        if optional:
            return None
        raise
    return getattr(module, attr) if attr else module


def lazy_names(
    module_name: str, namespace: dict[str, Any], names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module ``module_name`` whose globals are
    ``namespace``: ``names`` maps each lazily served name to its target. A resolved name is
    stored in the module, so the hook runs once per name."""

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        try:
            value = resolve(target)
        except ImportError as exc:
            raise AttributeError(
                f"module {module_name!r} serves {name!r} from {target.lstrip('?')!r}, "
                f"which cannot be imported here: {exc}"
            ) from exc
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__


def upstream_names(
    module_name: str, namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """:func:`lazy_names` with the module's entry of upstream's table
    (:mod:`jupyter_client._upstream_names`)."""
    from jupyter_client._upstream_names import UPSTREAM

    return lazy_names(module_name, namespace, UPSTREAM[module_name])
