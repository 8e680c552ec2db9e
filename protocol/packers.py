"""Message packers: the functions that turn one message part into bytes and back.

Why a module of its own: the choice of packer decides the wire format, and it is the one place
where we deliberately differ from upstream's stdlib output. Keeping every packer, the fallbacks
between them and the name -> (pack, unpack) selection together makes those decisions reviewable
in one file; the Session core only asks :func:`named_packers` for a pair.

* The default packer is called ``"json"`` but is :func:`fast_json_packer`: msgspec's encoder,
  compact output (no spaces), UTF-8, aware datetimes as ISO 8601 with ``Z`` for UTC, NaN/inf as
  ``null``. That is byte-for-byte what upstream's *orjson* packer (upstream's default whenever
  orjson is installed) emits for JSON-native values (tested), except floats with a positive
  exponent (orjson ``1e+16``, msgspec ``1e16``) and ints beyond 64 bits (orjson falls back to
  stdlib JSON); upstream's ``json_unpacker`` and ``orjson_unpacker`` parse all of it.
  Whatever msgspec cannot encode falls back to :func:`std_json_packer`, like upstream's orjson
  packer does. :func:`std_json_packer` is byte-identical to upstream's stdlib ``json_packer``; use
  ``packer="jupyter_client.session.std_json_packer"`` when spaced stdlib output is required.
  ``jupyter_client.session.json_packer`` is the fast one (upstream's module name for the
  ``"json"`` packer, so ``Session(packer="json").pack is session.json_packer`` holds as there).
* ``orjson`` and ``msgpack`` packers exist only when those libraries are installed (a missing
  orjson means ``json``, as upstream); ``pickle`` squashes datetimes to strings first.
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Callable
from importlib import import_module
from typing import Any

import msgspec

from jupyter_client.protocol.jsonutil import json_clean, json_default, squash_dates

PICKLE_PROTOCOL = pickle.DEFAULT_PROTOCOL

Packer = Callable[[Any], bytes]
Unpacker = Callable[[Any], Any]

_STD_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=json_default)


def std_json_packer(obj: Any) -> bytes:
    """Upstream's stdlib JSON packer, byte for byte (``", "``/``": "`` separators).

    On failure retries on :func:`json_clean` output with a ``UserWarning``, as upstream does.
    """
    try:
        return _STD_ENCODER.encode(obj).encode("utf8", errors="surrogateescape")
    except (TypeError, ValueError) as e:
        packed = _STD_ENCODER.encode(json_clean(obj)).encode("utf8", errors="surrogateescape")
        warnings.warn(
            f"Message serialization failed with:\n{e}\n"
            "Supporting this message is deprecated in jupyter-client 7, please make "
            "sure your message is JSON-compliant",
            stacklevel=2,
        )
        return packed


def std_json_unpacker(s: str | bytes) -> Any:
    """Upstream's stdlib JSON unpacker (invalid UTF-8 is replaced, not rejected)."""
    if isinstance(s, bytes):
        s = s.decode("utf8", "replace")
    return json.loads(s)


def _fast_enc_hook(obj: Any) -> Any:
    # msgspec hands str subclasses to the hook; json_default would turn them into char lists.
    if isinstance(obj, str):
        return str(obj)
    return json_default(obj)


# The Session core inlines these two on its hot path when the default packer is in use.
_FAST_ENCODE = msgspec.json.Encoder(enc_hook=_fast_enc_hook).encode
_FAST_DECODE = msgspec.json.decode


def fast_json_packer(obj: Any) -> bytes:
    """Our default packer: compact msgspec JSON, falling back to :func:`std_json_packer`.

    Output equals upstream's orjson packer for JSON-native values. Differences from upstream's
    stdlib packer: no spaces; NaN/inf become ``null`` (not ``"nan"`` strings); naive datetimes are
    written without offset (receivers interpret them as local time, the same meaning upstream's
    stdlib packer gives them); bytearray/memoryview become base64; bool dict keys become
    ``"1"``/``"0"`` (stdlib: ``"true"``/``"false"``); dataclasses, enums and UUIDs are encoded
    natively.
    """
    try:
        return _FAST_ENCODE(obj)
    except (TypeError, ValueError, OverflowError):
        return std_json_packer(obj)


def fast_json_unpacker(s: Any) -> Any:
    """msgspec JSON decoding; anything it rejects is retried by :func:`std_json_unpacker`.

    The retry keeps upstream's leniency (``NaN`` literals, lone surrogate escapes, invalid UTF-8
    replaced, out-of-range floats as inf).
    """
    try:
        return _FAST_DECODE(s)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return std_json_unpacker(s if isinstance(s, (str, bytes)) else bytes(s))


try:
    import orjson as _orjson
except ModuleNotFoundError:
    has_orjson = False
    # As upstream: without orjson, the orjson names are the json packer's.
    orjson_packer: Packer = fast_json_packer
    orjson_unpacker: Unpacker = fast_json_unpacker
else:  # pragma: no cover - orjson is not installed in our venv
    has_orjson = True
    _ORJSON_OPTS = _orjson.OPT_NAIVE_UTC | _orjson.OPT_UTC_Z

    def orjson_packer(obj: Any, *, option: int | None = _ORJSON_OPTS) -> bytes:
        """orjson packing with upstream's options; any failure falls back to std_json_packer."""
        try:
            return _orjson.dumps(obj, default=json_default, option=option)
        except Exception:
            return std_json_packer(obj)

    def orjson_unpacker(s: Any) -> Any:
        """orjson parsing; any failure falls back to std_json_unpacker."""
        try:
            return _orjson.loads(s)
        except Exception:
            return std_json_unpacker(s)


try:
    import msgpack as _msgpack
except ModuleNotFoundError:
    has_msgpack = False
else:  # pragma: no cover - msgpack is not installed in our venv
    has_msgpack = True

    def msgpack_packer(obj: Any) -> bytes:
        """msgpack with json_default for unsupported types."""
        packed: bytes = _msgpack.packb(obj, default=json_default)
        return packed

    msgpack_unpacker = _msgpack.unpackb


def pickle_packer(o: Any) -> bytes:
    """Pickle (dates squashed to strings first, as upstream)."""
    return pickle.dumps(squash_dates(o), PICKLE_PROTOCOL)


pickle_unpacker = pickle.loads


def import_item(name: str) -> Any:
    """Import ``pkg.mod.attr`` (or a bare module) by dotted name."""
    module, _, attr = name.rpartition(".")
    if not module:
        return import_module(name)
    try:
        return getattr(import_module(module), attr)
    except AttributeError as e:
        raise ImportError(f"No module named {attr}") from e


def named_packers(name: str) -> tuple[Packer, Unpacker] | None:
    """The (pack, unpack) pair for a packer name, or None for import strings.

    ``json`` is our fast packer; ``orjson`` is real orjson when installed, else the same as
    ``json`` (upstream also treats a missing orjson as json).
    """
    low = name.lower()
    if low == "orjson" and has_orjson:
        return orjson_packer, orjson_unpacker
    if low in ("json", "orjson"):
        return fast_json_packer, fast_json_unpacker
    if low == "pickle":
        return pickle_packer, pickle_unpacker
    if low == "msgpack" and has_msgpack:
        return msgpack_packer, msgpack_unpacker
    return None


def _squashing(pack: Packer) -> Packer:
    """Wrap a packer that cannot write datetimes so they are squashed to strings first."""

    def squashing_pack(o: Any) -> bytes:
        return pack(squash_dates(o))

    return squashing_pack


__all__ = [
    "PICKLE_PROTOCOL",
    "Packer",
    "Unpacker",
    "fast_json_packer",
    "fast_json_unpacker",
    "has_msgpack",
    "has_orjson",
    "import_item",
    "std_json_packer",
    "std_json_unpacker",
    "named_packers",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
]
