"""Dump the traitlets surface of jupyter_client's Configurables as JSON.

Run with ``.venv-kernel/bin/python tests/peers/traits_dump.py`` it describes UPSTREAM's
classes; tests/test_traits_parity.py loads the same file in-process to describe ours, so both
sides are read by one piece of code and differences are real differences.

Per class: the MRO names, application aliases/flags (for the CLI apps), and per trait: the trait
class, static default (JSON, else a stable repr) or ``dynamic`` (a ``@default`` generator or a
default made per instance), config flag, allow_none, read_only, whether it has help, and a few
type details that change how config strings parse (enum values, container element types, union
members, Instance/Type klass names, numeric bounds). Output is deterministic.

Only stdlib + traitlets + the jupyter_client under test are imported.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

# (module, class name); a class missing from a module is reported as missing, not an error.
CLASSES: list[tuple[str, str]] = [
    ("jupyter_client.session", "Session"),
    ("jupyter_client.session", "SessionFactory"),
    ("jupyter_client.connect", "ConnectionFileMixin"),
    ("jupyter_client.connect", "LocalPortCache"),
    ("jupyter_client.manager", "KernelManager"),
    ("jupyter_client.manager", "AsyncKernelManager"),
    ("jupyter_client.multikernelmanager", "MultiKernelManager"),
    ("jupyter_client.multikernelmanager", "AsyncMultiKernelManager"),
    ("jupyter_client.kernelspec", "KernelSpecManager"),
    ("jupyter_client.kernelspec", "KernelSpec"),
    ("jupyter_client.restarter", "KernelRestarter"),
    ("jupyter_client.ioloop.restarter", "IOLoopKernelRestarter"),
    ("jupyter_client.ioloop.restarter", "AsyncIOLoopKernelRestarter"),
    ("jupyter_client.ioloop.manager", "IOLoopKernelManager"),
    ("jupyter_client.ioloop.manager", "AsyncIOLoopKernelManager"),
    ("jupyter_client.provisioning.provisioner_base", "KernelProvisionerBase"),
    ("jupyter_client.provisioning.local_provisioner", "LocalProvisioner"),
    ("jupyter_client.provisioning.factory", "KernelProvisionerFactory"),
    ("jupyter_client.client", "KernelClient"),
    ("jupyter_client.blocking.client", "BlockingKernelClient"),
    ("jupyter_client.asynchronous.client", "AsyncKernelClient"),
    ("jupyter_client.threaded", "ThreadedKernelClient"),
    ("jupyter_client.kernelspecapp", "KernelSpecApp"),
    ("jupyter_client.kernelspecapp", "ListKernelSpecs"),
    ("jupyter_client.kernelspecapp", "InstallKernelSpec"),
    ("jupyter_client.kernelspecapp", "RemoveKernelSpec"),
    ("jupyter_client.kernelspecapp", "InstallNativeKernelSpec"),
    ("jupyter_client.kernelspecapp", "ListProvisioners"),
    ("jupyter_client.runapp", "RunApp"),
    ("jupyter_client.kernelapp", "KernelApp"),
    ("jupyter_client.consoleapp", "JupyterConsoleApp"),
    ("jupyter_client.consoleapp", "IPythonConsoleApp"),
]


def _jsonable(value: Any) -> Any:
    """The value as JSON when it round-trips, else a stable textual stand-in."""
    if isinstance(value, type):
        return {"class": value.__name__}
    if isinstance(value, bytes):
        return {"bytes": value.decode("latin-1")}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted(_jsonable(v) for v in value)}
    if isinstance(value, tuple):
        return {"tuple": [_jsonable(v) for v in value]}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"repr": type(value).__name__}
    return value


def _details(trait: Any) -> dict[str, Any]:
    """The parts of a trait's type that change which values (and config strings) it accepts."""
    out: dict[str, Any] = {}
    values = getattr(trait, "values", None)
    if values is not None and not callable(values):
        out["values"] = sorted(str(v) for v in values)
    for attr in ("min", "max"):
        bound = getattr(trait, attr, None)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            out[attr] = bound
    inner = getattr(trait, "_trait", None)
    if inner is not None:
        out["element"] = type(inner).__name__
    key_trait = getattr(trait, "_key_trait", None)
    if key_trait is not None:
        out["key"] = type(key_trait).__name__
    value_trait = getattr(trait, "_value_trait", None)
    if value_trait is not None:
        out["value"] = type(value_trait).__name__
    members = getattr(trait, "trait_types", None)
    if isinstance(members, (list, tuple)):
        out["members"] = [type(m).__name__ for m in members]
    klass = getattr(trait, "klass", None)
    if klass is not None:
        out["klass"] = klass.rsplit(".", 1)[-1] if isinstance(klass, str) else klass.__name__
    return out


# Application traits whose values carry help text: each implementation words its own help,
# so only what an option or subcommand does is compared.
_HELP_BEARING = {"aliases", "flags", "subcommands"}
# Prose shown by --help: compared as present or absent, never word for word.
_PROSE = {"description", "examples"}


def _without_help(entry: Any) -> Any:
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str):
        entry = entry[0]
    if isinstance(entry, type):
        return entry.__name__
    if isinstance(entry, str) and entry.count(".") > 1 and " " not in entry:
        return entry.rsplit(".", 1)[-1]  # "pkg.module.Class" names the class
    return entry


def _default(cls: type, name: str, trait: Any) -> dict[str, Any]:
    gen = cls._all_trait_default_generators.get(name)  # type: ignore[attr-defined]
    if gen is None or getattr(gen, "__self__", None) is not trait:
        owner = getattr(gen, "__qualname__", "").rpartition(".")[0] or None
        return {"dynamic": "generator", "owner": owner}
    type_name = type(trait).__name__
    if type_name in ("Instance", "Type", "ForwardDeclaredInstance", "ForwardDeclaredType"):
        # Building the default would construct objects or import modules: describe it instead.
        if getattr(trait, "default_args", None) is not None or getattr(
            trait, "default_kwargs", None
        ):
            return {"dynamic": "instance"}
        value = trait.default_value
        if isinstance(value, str):
            # A dotted name until an instance resolves it to the class (traitlets mutates the
            # trait then): the class name either way, so the dump does not depend on history.
            return {"value": {"class": value.rsplit(".", 1)[-1]}}
        return {"value": _jsonable(value)}
    try:
        value = trait.default()
    except Exception as exc:  # recorded, compared like any other default
        return {"error": type(exc).__name__}
    if name in _HELP_BEARING and isinstance(value, dict):
        value = {k: _without_help(v) for k, v in value.items()}
    elif name in _PROSE and isinstance(value, str):
        return {"value": {"prose": bool(value.strip())}}
    if type(value).__name__ == "Sentinel":
        return {"value": {"sentinel": str(value)}}
    return {"value": _jsonable(value)}


def describe(cls: type) -> dict[str, Any]:
    """One class's traitlets surface (see module docstring)."""
    traits: dict[str, Any] = {}
    class_traits = getattr(cls, "class_traits", None)
    if class_traits is not None:
        for name, trait in sorted(class_traits().items()):
            traits[name] = {
                "type": type(trait).__name__,
                "config": bool(trait.metadata.get("config", False)),
                "allow_none": bool(getattr(trait, "allow_none", False)),
                "read_only": bool(getattr(trait, "read_only", False)),
                "help": bool(trait.help),
                "details": _details(trait),
                "default": _default(cls, name, trait),
            }
    out: dict[str, Any] = {
        "mro": [c.__name__ for c in cls.__mro__],
        "configurable": class_traits is not None,
        "traits": traits,
    }
    aliases = getattr(cls, "aliases", None)
    if isinstance(aliases, dict):
        out["aliases"] = {
            (k if isinstance(k, str) else "|".join(k)): (v if isinstance(v, str) else list(v))
            for k, v in sorted(aliases.items(), key=lambda kv: str(kv[0]))
        }
    flags = getattr(cls, "flags", None)
    if isinstance(flags, dict):
        out["flags"] = sorted(k if isinstance(k, str) else "|".join(k) for k in flags)
    subcommands = getattr(cls, "subcommands", None)
    if isinstance(subcommands, dict):
        out["subcommands"] = sorted(subcommands)
    classes = getattr(cls, "classes", None)
    if isinstance(classes, list):  # what --help-all and --generate-config list
        out["classes"] = sorted(c.__name__ for c in classes)
    return out


# Dynamic defaults that are objects with resources or identity (contexts, sessions, loggers,
# event loops) are not evaluated: building them would open sockets or start loops.
_NOT_EVALUATED_TYPES = {"Instance", "Any", "ForwardDeclaredInstance", "Union"}


def _normalize(value: Any) -> Any:
    """Environment paths in a value, spelled the same way on both sides."""
    if isinstance(value, str):
        for path, token in _ENV_PATHS:
            value = value.replace(path, token)
        return value
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


_ENV_PATHS = sorted(
    {
        (sys.prefix, "{prefix}"),
        (os.path.expanduser("~"), "{home}"),
        (f"kernel-{os.getpid()}.", "kernel-{pid}."),  # connection files named by the pid
    },
    key=lambda pair: -len(pair[0]),
)


def evaluate(cls: type) -> dict[str, Any]:
    """Dynamic defaults as a fresh instance (built with no arguments) computes them."""
    try:
        instance = cls()
    except Exception as exc:  # abstract or needs arguments: say so
        return {"error": type(exc).__name__}
    values: dict[str, Any] = {}
    for name, trait in sorted(cls.class_traits().items()):  # type: ignore[attr-defined]
        gen = cls._all_trait_default_generators.get(name)  # type: ignore[attr-defined]
        static = gen is not None and getattr(gen, "__self__", None) is trait
        if static or type(trait).__name__ in _NOT_EVALUATED_TYPES or name.startswith("_"):
            continue
        try:
            values[name] = _normalize(_jsonable(getattr(instance, name)))
        except Exception as exc:  # recorded and compared
            values[name] = {"error": type(exc).__name__}
    return values


def dump(
    classes: list[tuple[str, str]] = CLASSES, evaluated: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Describe every listed class; a class that cannot be imported is recorded as such.

    Classes named in ``evaluated`` are also instantiated to record their dynamic defaults.
    """
    result: dict[str, Any] = {}
    for module_name, class_name in classes:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            result[class_name] = {"missing": f"{type(exc).__name__}: {exc}"}
            continue
        result[class_name] = describe(cls)
        if class_name in evaluated and result[class_name]["configurable"]:
            result[class_name]["evaluated"] = evaluate(cls)
    return result


if __name__ == "__main__":
    json.dump(dump(evaluated=tuple(sys.argv[1:])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
