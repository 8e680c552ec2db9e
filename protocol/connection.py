"""Connection info: the model, (de)serialisation of connection files, and validation.

A connection file tells a kernel which ports to bind and how to sign messages. Upstream
writes it with a fixed key order and reads it with a bare ``json.load``; a garbled file then
fails much later with an unrelated ``KeyError`` or ``TypeError``. Here parsing validates every
known field and raises :class:`ConnectionFileError` naming the file and the field.

Port choice lives in :mod:`jupyter_client.protocol.ports`; secure file writing is here
because the connection file is the only secret this layer writes.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CHANNELS",
    "PORT_NAMES",
    "ConnectionFileError",
    "InvalidPortNumber",
    "InvalidPortInConnectionFile",
    "connection_dict",
    "dumps_connection",
    "parse_connection_info",
    "read_connection_file",
    "secure_write",
]

#: Upstream's ``port_names`` order (used by ``ports`` and random-port bookkeeping).
PORT_NAMES: tuple[str, ...] = ("shell_port", "stdin_port", "iopub_port", "hb_port", "control_port")
#: The order in which freshly chosen ports are assigned to channels when writing a file.
ASSIGN_ORDER: tuple[str, ...] = (
    "shell_port",
    "iopub_port",
    "stdin_port",
    "control_port",
    "hb_port",
)
CHANNELS: tuple[str, ...] = ("shell", "iopub", "stdin", "hb", "control")
TRANSPORTS: tuple[str, ...] = ("tcp", "ipc")

_STR_FIELDS = ("ip", "transport", "signature_scheme", "kernel_name", "key")
_CURVE_FIELDS = ("curve_publickey", "curve_secretkey")


class InvalidPortNumber(Exception):  # upstream name
    """A port number that cannot be used for a channel (upstream: ``channels``)."""


class ConnectionFileError(ValueError):
    """A connection file (or dict) that is unreadable or has a field of the wrong shape.

    ``source`` is the file name (or ``"<dict>"``) and ``field`` the offending key, or None
    when the document as a whole is broken.
    """

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"field {field!r} of " if field else ""
        super().__init__(f"Invalid connection info: {where}{source}: {problem}")


class InvalidPortInConnectionFile(ConnectionFileError, InvalidPortNumber):
    """A port field that is not an integer in 0..65535; catchable as either parent."""


def connection_dict(
    *,
    shell_port: int,
    iopub_port: int,
    stdin_port: int,
    control_port: int,
    hb_port: int,
    ip: str,
    key: bytes | str,
    transport: str,
    signature_scheme: str,
    kernel_name: str,
    curve_publickey: bytes | str | None = None,
    curve_secretkey: bytes | str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The connection-file dict in upstream's exact key order.

    Order: the five ports, ip, key (str), transport, signature_scheme, kernel_name, curve keys
    (ASCII str, only when given), then ``extra`` in insertion order.
    """
    cfg: dict[str, Any] = {
        "shell_port": shell_port,
        "iopub_port": iopub_port,
        "stdin_port": stdin_port,
        "control_port": control_port,
        "hb_port": hb_port,
        "ip": ip,
        "key": key.decode() if isinstance(key, bytes) else key,
        "transport": transport,
        "signature_scheme": signature_scheme,
        "kernel_name": kernel_name,
    }
    for name, value in (("curve_publickey", curve_publickey), ("curve_secretkey", curve_secretkey)):
        if value is not None:
            cfg[name] = value.decode("ascii") if isinstance(value, bytes) else value
    if extra:
        cfg.update(extra)
    return cfg


def dumps_connection(cfg: Mapping[str, Any]) -> str:
    """Serialise like upstream: 2-space indent, ASCII-escaped, no trailing newline."""
    return json.dumps(cfg, indent=2)


def _insecure_writes_allowed() -> bool:
    return os.environ.get("JUPYTER_ALLOW_INSECURE_WRITES", "false").lower() in ("true", "1")


def secure_write(fname: str, text: str) -> None:
    """Write ``text`` to ``fname`` readable by the owner only (mode 0600).

    The old file is unlinked first so a pre-existing file with looser permissions (or owned by
    someone else via a link) is never written through; the mode is checked after creation
    (owner-execute and sticky bits tolerated, as some filesystems add them).
    """
    try:
        os.unlink(fname)
    except OSError:
        pass
    # Gone now, so anything there at open time was planted since: refuse it (O_EXCL, which
    # follows no link either).
    fd = os.open(fname, os.O_CREAT | os.O_WRONLY | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        if os.name != "nt":
            mode = stat.S_IMODE(os.stat(fname).st_mode) & 0o6677
            if mode != 0o600:
                if not _insecure_writes_allowed():
                    raise RuntimeError(
                        f"Permissions assignment failed for secure file: '{fname}'."
                        f" Got '{oct(mode)}' instead of '0o0600'."
                    )
                warnings.warn(
                    "Insecure writes have been enabled via JUPYTER_ALLOW_INSECURE_WRITES;"
                    f" {fname} is not restricted to its owner.",
                    stacklevel=2,
                )
        f.write(text)


def _check_port(source: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPortInConnectionFile(
            source, name, f"expected an integer port, got {type(value).__name__} {value!r:.60}"
        )
    if not 0 <= value <= 65535:
        raise InvalidPortInConnectionFile(source, name, f"port {value} is outside 0..65535")
    return value


def parse_connection_info(info: Any, source: str = "<dict>") -> dict[str, Any]:
    """Validate a decoded connection document and return it as a plain dict.

    Missing fields stay missing (the caller's defaults apply, as upstream's
    ``load_connection_info`` does); present fields must have the right type. Unknown fields
    are kept untouched (e.g. ``jupyter_session``).
    """
    if not isinstance(info, Mapping):
        raise ConnectionFileError(
            source, None, f"expected a JSON object, got {type(info).__name__}"
        )
    out = dict(info)
    for name in PORT_NAMES:
        if name in out:
            _check_port(source, name, out[name])
    for name in (*_STR_FIELDS, *_CURVE_FIELDS):
        if name not in out:
            continue
        value = out[name]
        if name in ("key", *_CURVE_FIELDS) and isinstance(value, bytes):
            continue
        if name in _CURVE_FIELDS and value is None:
            continue
        if not isinstance(value, str):
            raise ConnectionFileError(
                source, name, f"expected a string, got {type(value).__name__} {value!r:.60}"
            )
    if "transport" in out and out["transport"].lower() not in TRANSPORTS:
        raise ConnectionFileError(
            source, "transport", f"unknown transport {out['transport']!r} (use tcp or ipc)"
        )
    return out


def loads_connection(text: str | bytes, source: str = "<string>") -> dict[str, Any]:
    """Decode and validate connection-file text; any problem → :class:`ConnectionFileError`."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConnectionFileError(source, None, f"not valid JSON ({e})") from e
    return parse_connection_info(doc, source)


def read_connection_file(fname: str) -> dict[str, Any]:
    """Read and validate a connection file. ``OSError`` propagates for missing files."""
    with open(fname, "rb") as f:
        data = f.read()
    return loads_connection(data, fname)
