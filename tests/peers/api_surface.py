"""Dump the public Python surface of jupyter_client's modules as JSON.

Run with ``.venv-kernel/bin/python tests/peers/api_surface.py`` it describes UPSTREAM's
package; with our interpreter it describes ours. tests/test_api_parity.py runs both (each from
``/``, so neither picks up the other's checkout) and compares: one piece of code reads both
sides, so every difference it reports is a real one.

Per module (upstream 8.10's module list): each public name (no leading underscore) and what it
is — ``module``, ``class``, ``function`` or ``value`` — looked up with ``getattr`` so names a
module serves lazily (PEP 562) count, as they do for ``from m import name``. Per class: its
public members (``dir``), and for each function-like member and the module's own functions a
signature key: parameter names, kinds and defaults (the repr of simple defaults only).
Annotations are left out: ours are real types, upstream's partly strings.

Only the standard library and the jupyter_client under test are imported.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import types
from typing import Any

MODULES = [
    "jupyter_client",
    "jupyter_client._version",
    "jupyter_client.adapter",
    "jupyter_client.asynchronous",
    "jupyter_client.asynchronous.client",
    "jupyter_client.blocking",
    "jupyter_client.blocking.client",
    "jupyter_client.channels",
    "jupyter_client.channelsabc",
    "jupyter_client.client",
    "jupyter_client.clientabc",
    "jupyter_client.connect",
    "jupyter_client.consoleapp",
    "jupyter_client.ioloop",
    "jupyter_client.ioloop.manager",
    "jupyter_client.ioloop.restarter",
    "jupyter_client.jsonutil",
    "jupyter_client.kernelapp",
    "jupyter_client.kernelspec",
    "jupyter_client.kernelspecapp",
    "jupyter_client.launcher",
    "jupyter_client.localinterfaces",
    "jupyter_client.manager",
    "jupyter_client.managerabc",
    "jupyter_client.multikernelmanager",
    "jupyter_client.provisioning",
    "jupyter_client.provisioning.factory",
    "jupyter_client.provisioning.local_provisioner",
    "jupyter_client.provisioning.provisioner_base",
    "jupyter_client.restarter",
    "jupyter_client.runapp",
    "jupyter_client.session",
    "jupyter_client.ssh",
    "jupyter_client.ssh.forward",
    "jupyter_client.ssh.tunnel",
    "jupyter_client.threaded",
    "jupyter_client.utils",
]

_SIMPLE = (type(None), bool, int, float, str, bytes)


def _default(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    if isinstance(value, _SIMPLE):
        return "=" + repr(value)
    return "=<object>"


def signature_key(obj: Any) -> str | None:
    """``(a, *, b=1, **kw)`` without annotations; None when Python cannot tell."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    parts = []
    for p in sig.parameters.values():
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        parts.append(f"{p.kind.name}:{prefix}{p.name}{_default(p.default)}")
    return "(" + ", ".join(parts) + ")"


def _kind(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if isinstance(value, type):
        return "class"
    if callable(value):
        return "function"
    return "value"


def _function_like(value: Any) -> bool:
    return inspect.isfunction(value) or inspect.ismethod(value) or inspect.ismethoddescriptor(value)


def describe_class(cls: type) -> dict[str, Any]:
    members: dict[str, Any] = {"__origin__": f"{cls.__module__}.{cls.__qualname__}"}
    for name in dir(cls):
        if name.startswith("_") and name != "__init__":
            continue
        try:
            raw = inspect.getattr_static(cls, name)
        except AttributeError:
            raw = None
        target = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        if isinstance(raw, property) or not _function_like(target):
            members[name] = None
        else:
            members[name] = signature_key(getattr(cls, name))
    return members


def describe_module(name: str) -> dict[str, Any]:
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # a module the other side has and this one lacks
        return {"error": f"{type(exc).__name__}: {exc}"}
    names: dict[str, str] = {}
    functions: dict[str, str | None] = {}
    classes: dict[str, Any] = {}
    external: list[str] = []  # functions of another package (typing's, the stdlib's...)
    candidates = set(dir(mod)) | set(getattr(mod, "__all__", ()))
    for attr in sorted(candidates):
        if attr.startswith("_"):
            continue
        try:
            value = getattr(mod, attr)
        except AttributeError:
            continue
        kind = _kind(value)
        names[attr] = kind
        if kind == "function":
            # Another package's function (typing's, the stdlib's) is compared by name only.
            functions[attr] = signature_key(value)
            if not (getattr(value, "__module__", None) or "").startswith("jupyter_client"):
                external.append(attr)
        elif kind == "class":
            classes[attr] = describe_class(value)
    return {"names": names, "functions": functions, "classes": classes, "external": external}


def main(argv: list[str]) -> None:
    mods = argv or MODULES
    print(json.dumps({m: describe_module(m) for m in mods}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
