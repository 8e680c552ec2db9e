"""Kernelspec model, ``kernel.json`` parsing, name validation and directory discovery.

Upstream feeds ``kernel.json`` straight into traitlets, so a broken file surfaces as a
``TraitError`` or ``JSONDecodeError`` without the file name. Here decoding goes through a
msgspec Struct and any problem becomes :class:`KernelSpecError` naming the file and the field
(``argv[0]``, ``env``, ...). Unknown keys are ignored, as upstream drops them.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from string import Template
from typing import Any

import msgspec

__all__ = [
    "KERNEL_NAME_DESCRIPTION",
    "NATIVE_KERNEL_NAME",
    "KernelSpecError",
    "KernelSpecModel",
    "find_spec_dir",
    "finalize_kernel_env",
    "format_argv",
    "is_kernel_dir",
    "kernel_env",
    "is_valid_kernel_name",
    "list_kernels_in",
    "load_kernel_json",
    "load_kernel_json_with_raw",
    "parse_kernel_json",
]

NATIVE_KERNEL_NAME = "python3"

_NAME = re.compile(r"^[a-z0-9._\-]+$", re.IGNORECASE)

KERNEL_NAME_DESCRIPTION = (
    "Kernel names can only contain ASCII letters and numbers and these separators:"
    " - . _ (hyphen, period, and underscore)."
)

INTERRUPT_MODES = ("message", "signal")


class KernelSpecModel(msgspec.Struct, kw_only=True):
    """The fields of ``kernel.json`` that jupyter_client understands (all optional)."""

    argv: list[str] = msgspec.field(default_factory=list)
    display_name: str = ""
    language: str = ""
    interrupt_mode: str = "signal"
    env: dict[str, str] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    kernel_protocol_version: str = ""
    mimetype: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Upstream's ``KernelSpec.to_dict`` key order (no name/resource_dir/mimetype)."""
        return {
            "argv": list(self.argv),
            "env": dict(self.env),
            "display_name": self.display_name,
            "language": self.language,
            "interrupt_mode": self.interrupt_mode,
            "metadata": dict(self.metadata),
            "kernel_protocol_version": self.kernel_protocol_version,
        }


class KernelSpecError(ValueError):
    """A ``kernel.json`` that cannot be used; names the file and (when known) the field."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f" (field {field!r})" if field else ""
        super().__init__(f"Invalid kernel spec {source}{where}: {problem}")


_AT = re.compile(r" - at `\$\.?(.*)`$")


def parse_kernel_json(data: bytes | str, source: str = "<kernel.json>") -> KernelSpecModel:
    """Decode and validate ``kernel.json`` contents."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    try:
        spec = msgspec.json.decode(data, type=KernelSpecModel)
    except msgspec.ValidationError as e:
        msg = str(e)
        m = _AT.search(msg)
        field = m.group(1) if m else None
        problem = _AT.sub("", msg) if m else msg
        if field is None and "Expected `object`" in msg:
            problem = "the document must be a JSON object"
        raise KernelSpecError(source, field or None, problem) from e
    except msgspec.DecodeError as e:
        raise KernelSpecError(source, None, f"not valid JSON ({e})") from e
    mode = spec.interrupt_mode.lower()
    if mode not in INTERRUPT_MODES:
        raise KernelSpecError(
            source, "interrupt_mode", f"{spec.interrupt_mode!r} is not 'message' or 'signal'"
        )
    spec.interrupt_mode = mode
    return spec


def load_kernel_json(resource_dir: str) -> KernelSpecModel:
    """Read ``<resource_dir>/kernel.json``; ``OSError`` propagates for unreadable files."""
    fname = os.path.join(resource_dir, "kernel.json")
    with open(fname, "rb") as f:
        data = f.read()
    return parse_kernel_json(data, fname)


def load_kernel_json_with_raw(resource_dir: str) -> tuple[KernelSpecModel, dict[str, Any]]:
    """Like :func:`load_kernel_json`, also returning the raw decoded object (for extra keys)."""
    fname = os.path.join(resource_dir, "kernel.json")
    with open(fname, "rb") as f:
        data = f.read()
    model = parse_kernel_json(data, fname)
    raw = msgspec.json.decode(data)
    return model, raw


def is_valid_kernel_name(name: str) -> bool:
    """Names may contain only ASCII letters, digits and ``- . _``."""
    return bool(_NAME.match(name))


def is_kernel_dir(path: str) -> bool:
    """A kernel dir is a directory holding a ``kernel.json``."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "kernel.json"))


def list_kernels_in(directory: str | None) -> dict[str, str]:
    """``{lower-cased name: resource dir}`` for the kernel dirs directly inside ``directory``.

    Invalid names are still listed but trigger a ``UserWarning`` (upstream behaviour).
    """
    if directory is None or not os.path.isdir(directory):
        return {}
    kernels: dict[str, str] = {}
    for entry in os.listdir(directory):
        path = os.path.join(directory, entry)
        if not is_kernel_dir(path):
            continue
        key = entry.lower()
        if not is_valid_kernel_name(key):
            warnings.warn(
                f"Invalid kernelspec directory name ({KERNEL_NAME_DESCRIPTION}): {path}",
                stacklevel=3,
            )
        kernels[key] = path
    return kernels


def find_spec_dir(kernel_dirs: list[str], kernel_name: str) -> str | None:
    """The first dir in ``kernel_dirs`` holding a kernel dir named ``kernel_name`` (caseless)."""
    wanted = kernel_name.lower()
    for kernel_dir in kernel_dirs:
        try:
            entries = os.listdir(kernel_dir)
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(kernel_dir, entry)
            if entry.lower() == wanted and is_kernel_dir(path):
                return path
    return None


_TEMPLATE = re.compile(r"\{([A-Za-z0-9_]+)\}")
_THIS_PYTHON = {"python", f"python{sys.version_info[0]}",
                f"python{sys.version_info[0]}.{sys.version_info[1]}"}  # fmt: skip


def format_argv(argv: Sequence[str], namespace: Mapping[str, Any]) -> list[str]:
    """A kernelspec's argv ready to launch, as upstream formats it: a bare ``python``
    (``python3``, ``python3.11``) first becomes this interpreter, and every ``{name}`` found
    in ``namespace`` (``connection_file``, ``resource_dir``, ``prefix``, launch arguments) is
    substituted; unknown ``{names}`` stay as they are. The one templating both the managers
    and ``jupyter-supervisor`` use."""
    cmd = list(argv)
    if cmd and cmd[0] in _THIS_PYTHON:
        cmd[0] = sys.executable

    def sub(m: re.Match[str]) -> str:
        return str(namespace[m.group(1)]) if m.group(1) in namespace else m.group(0)

    return [_TEMPLATE.sub(sub, c) for c in cmd]


def kernel_env(
    base: Mapping[str, str], spec_env: Mapping[str, Any] | None, language: str | None = ""
) -> dict[str, str]:
    """The environment a kernel starts with, as upstream's provisioners build it: ``base``
    (the launch env, usually ``os.environ``) overridden by the kernelspec's ``env``, whose
    values are ``string.Template``s over ``base`` (``$VAR``/``${VAR}``; unknown names stay as
    written). A Python kernel does not inherit ``PYTHONEXECUTABLE``: it would make the
    kernel's interpreter report another venv's executable. The one environment both the
    managers and ``jupyter-supervisor`` use."""
    env = dict(base)
    for name, value in (spec_env or {}).items():
        env[name] = Template(str(value)).safe_substitute(env)
    finalize_kernel_env(env, language)
    return env


def finalize_kernel_env(env: dict[str, str], language: str | None) -> None:
    """The last step of :func:`kernel_env` (upstream's provisioners expose it as the
    ``_finalize_env`` hook): a Python kernel loses ``PYTHONEXECUTABLE``."""
    if (language or "").lower().startswith("python"):
        env.pop("PYTHONEXECUTABLE", None)
