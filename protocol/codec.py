"""Message codec: build, sign, serialize, split and parse Jupyter wire messages.

Why a module of its own: this is the per-message hot path, free of sockets and of option
plumbing, so it can be profiled and fuzzed on its own. :class:`SessionCodec` adds it to the
option state of :class:`~jupyter_client.protocol.session_options.SessionOptions`; the Session
core adds socket I/O on top.

Hot-path API (used by the actors layer, keep stable):

* ``core.msg(msg_type, content=None, parent=None, header=None, metadata=None) -> dict``
* ``core.serialize(msg, ident=None) -> list[bytes]``
  (``[*idents, DELIM, signature, header, parent_header, metadata, content]``)
* ``core.feed_identities(frames, copy=True) -> (idents, rest)``
* ``core.deserialize(rest, content=True, copy=True) -> dict``

Decisions (packers and signing have their own modules and notes):

* With the default packer the msgspec encoder/decoder are called inline (no packer call per
  part); anything they reject goes through the packer's lenient fallback.
* Header and parent-header dates: every string value matching ``ISO8601_PAT`` is converted (as
  upstream does) by :func:`~jupyter_client.protocol.jsonutil._header_dates`, which skips the
  regex for most strings and memoises parsed timestamps.
* A signature is added to the replay history only after it has been verified, and only by a
  consuming read (``content=True``).
* Every malformed input raises :class:`MessageError` (a ``ValueError`` *and* ``TypeError``),
  never a partially filled message.
"""

from __future__ import annotations

import pprint
import warnings
from collections.abc import Sequence
from datetime import datetime
from hmac import compare_digest
from typing import Any

import msgspec

from jupyter_client.protocol import headers
from jupyter_client.protocol.adapter import adapt
from jupyter_client.protocol.headers import extract_header, utc
from jupyter_client.protocol.jsonutil import _header_dates, _parent_dates
from jupyter_client.protocol.packers import (
    _FAST_DECODE,
    _FAST_ENCODE,
    fast_json_packer,
    fast_json_unpacker,
)
from jupyter_client.protocol.session_options import SessionOptions
from jupyter_client.protocol.signing import cull_digest_history
from jupyter_client.protocol.version import protocol_version

DELIM = b"<IDS|MSG>"

# Parsed parent headers by raw frame (default unpacker only): every reply and IOPub message
# caused by one request repeats its parent header byte for byte. Values are private
# originals; callers always get a fresh copy. Bounded by clearing (a handful of requests are
# in flight at a time).
_parent_cache: dict[bytes, dict[str, Any]] = {}
_PARENT_CACHE_MAX = 256


class MessageError(ValueError, TypeError):
    """A wire message that cannot be accepted (bad frames, signature, JSON or types).

    Both a ``ValueError`` and a ``TypeError``: upstream raises ``ValueError`` for signature and
    parse problems and ``TypeError`` for too few frames, and callers catch either.
    """


class SessionCodec(SessionOptions):
    """Message building, signing, serialization and parsing over the session's options."""

    # -- building ---------------------------------------------------------------------------

    @property
    def msg_id(self) -> str:
        """``<session>_<pid>_<n>``; each read consumes a number."""
        return f"{self._session}_{headers._PID}_{next(self._counter)}"

    def msg_header(self, msg_type: str) -> dict[str, Any]:
        """A fresh header for ``msg_type`` from this session."""
        return {
            "msg_id": f"{self._session}_{headers._PID}_{next(self._counter)}",
            "msg_type": msg_type,
            "username": self._username,
            "session": self._session,
            "date": datetime.now(utc),
            "version": protocol_version,
        }

    def msg(
        self,
        msg_type: str,
        content: Any = None,
        parent: Any = None,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The nested message dict (no ``buffers`` key), as upstream builds it."""
        if header is None:
            header = self.msg_header(msg_type)
        md = self._metadata.copy()
        if metadata is not None:
            md.update(metadata)
        return {
            "header": header,
            "msg_id": header["msg_id"],
            "msg_type": header["msg_type"],
            "parent_header": {} if parent is None else extract_header(parent),
            "content": {} if content is None else content,
            "metadata": md,
        }

    def sign(self, msg_list: Sequence[Any]) -> bytes:
        """Hex HMAC of the given frames as ASCII bytes; ``b""`` when signing is off."""
        signer = self._signer
        return b"" if signer is None else signer(msg_list)

    def serialize(self, msg: dict[str, Any], ident: Any = None) -> list[bytes]:
        """``[*idents, DELIM, signature, header, parent, metadata, content]``.

        ``content`` may be a dict (packed), bytes (already packed: relayed unchanged), str
        (UTF-8 encoded) or None (``{}``).
        """
        content = msg.get("content", {})
        pack_content = isinstance(content, dict)
        if pack_content:
            pass
        elif content is None:
            content = self.none
        elif isinstance(content, bytes):
            pass
        elif isinstance(content, str):
            content = content.encode("utf8")
        else:
            raise TypeError(f"Content incorrect type: {type(content)}")
        header, parent, metadata = msg["header"], msg["parent_header"], msg["metadata"]
        pack = self._pack
        parts: list[bytes] | None = None
        if pack is fast_json_packer:  # inline the default packer: 4 fewer Python calls
            enc = _FAST_ENCODE
            try:
                parts = [
                    enc(header),
                    enc(parent),
                    enc(metadata),
                    enc(content) if pack_content else content,
                ]
            except (TypeError, ValueError, OverflowError):
                parts = None  # the packer's stdlib fallback handles (and warns about) it
        if parts is None:
            parts = [
                pack(header),
                pack(parent),
                pack(metadata),
                pack(content) if pack_content else content,
            ]
        signer = self._signer
        sig = b"" if signer is None else signer(parts)
        if ident is None:
            return [DELIM, sig, *parts]
        if isinstance(ident, list):
            return [*ident, DELIM, sig, *parts]
        return [ident, DELIM, sig, *parts]

    # -- parsing ----------------------------------------------------------------------------

    def feed_identities(self, msg_list: list[Any], copy: bool = True) -> tuple[list[bytes], Any]:
        """Split ``msg_list`` at the first DELIM into (idents as bytes, remaining frames)."""
        if copy:
            try:
                idx = msg_list.index(DELIM)
            except ValueError:
                raise MessageError("DELIM not in msg_list") from None
            return msg_list[:idx], msg_list[idx + 1 :]
        try:
            for idx, frame in enumerate(msg_list):
                if len(frame) == 9 and _frame_bytes(frame) == DELIM:
                    return [_frame_bytes(f) for f in msg_list[:idx]], msg_list[idx + 1 :]
        except MessageError:
            raise
        except Exception as e:
            raise MessageError(f"message frames must be bytes-like: {e}") from None
        raise MessageError("DELIM not in msg_list")

    def _add_digest(self, signature: bytes) -> None:
        """Remember a verified signature; over the limit drop a random 10% (or the excess)."""
        size = self._history_size
        if size == 0:
            return
        history = self._history
        history.add(signature)
        if len(history) > size:
            self._cull_digest_history()

    def _cull_digest_history(self) -> None:
        cull_digest_history(self._history, self._history_size)

    def deserialize(
        self, msg_list: Sequence[Any], content: bool = True, copy: bool = True
    ) -> dict[str, Any]:
        """Verify and parse ``[signature, header, parent, metadata, content, *buffers]``.

        ``copy=False`` accepts zmq Frames. Buffers become memoryviews. The result is adapted to
        protocol 5. Raises :class:`MessageError` for anything malformed.
        """
        n = len(msg_list)
        if n < 5:
            raise MessageError("malformed message, must have at least 5 elements")
        signature, p_header, p_parent, p_metadata, p_content = msg_list[:5]
        if not copy or not (
            type(p_header) is bytes
            and type(p_parent) is bytes
            and type(p_metadata) is bytes
            and type(p_content) is bytes
            and type(signature) is bytes
        ):
            try:
                signature, p_header, p_parent, p_metadata, p_content = map(
                    _frame_bytes, (signature, p_header, p_parent, p_metadata, p_content)
                )
            except MessageError:
                raise
            except Exception as e:
                raise MessageError(f"message frames must be bytes-like: {e}") from None
        limit = self.max_header_size
        if len(p_header) > limit or len(p_parent) > limit:
            raise MessageError(f"header frame larger than {limit} bytes")
        signer = self._signer
        if signer is not None:
            if not signature:
                raise MessageError("Unsigned Message")
            if signature in self._history:
                raise MessageError(f"Duplicate Signature: {signature!r}")
            if not compare_digest(signature, signer((p_header, p_parent, p_metadata, p_content))):
                raise MessageError(f"Invalid Signature: {signature!r}")
            if content:  # only consuming reads count; a content=False peek may be re-read
                self._add_digest(signature)
        unpack = self._unpack
        shared = None
        try:
            if unpack is fast_json_unpacker:
                try:
                    dec = _FAST_DECODE
                    header = dec(p_header)
                    shared = _parent_cache.get(p_parent)
                    parent = dec(p_parent) if shared is None else shared.copy()
                    metadata = dec(p_metadata)
                    body = dec(p_content) if content else p_content
                except (msgspec.DecodeError, UnicodeDecodeError):
                    unpack = fast_json_unpacker  # lenient retry, frame by frame
                    shared = None
                    header = unpack(p_header)
                    parent = unpack(p_parent)
                    metadata = unpack(p_metadata)
                    body = unpack(p_content) if content else p_content
            else:
                header = unpack(p_header)
                parent = unpack(p_parent)
                metadata = unpack(p_metadata)
                body = unpack(p_content) if content else p_content
        except Exception as e:
            raise MessageError(f"could not unpack message: {type(e).__name__}: {e}") from None
        if type(header) is not dict or type(parent) is not dict or type(metadata) is not dict:
            raise MessageError(_type_problem(header, parent, metadata))
        if content and type(body) is not dict:
            raise MessageError(f"content must be a dict, got {type(body).__name__}")
        try:
            msg_id = header["msg_id"]
            msg_type = header["msg_type"]
        except KeyError as e:
            raise MessageError(f"header has no {e.args[0]!r}") from None
        try:
            _header_dates(header)
            if parent and shared is None:
                if _parent_dates(parent) and unpack is fast_json_unpacker:
                    if len(_parent_cache) >= _PARENT_CACHE_MAX:
                        _parent_cache.clear()
                    _parent_cache[p_parent] = parent.copy()
            buffers = [memoryview(b) for b in msg_list[5:]] if n > 5 else []
        except Exception as e:
            raise MessageError(f"bad message: {type(e).__name__}: {e}") from None
        message = {
            "header": header,
            "msg_id": msg_id,
            "msg_type": msg_type,
            "parent_header": parent,
            "metadata": metadata,
            "content": body,
            "buffers": buffers,
        }
        if self._debug:
            pprint.pprint(message)
        version = header.get("version")
        if type(version) is str and version[:2] == "5." and "date" in header:
            return message
        try:
            return adapt(message)
        except Exception as e:
            raise MessageError(f"cannot adapt message: {type(e).__name__}: {e}") from None

    def unserialize(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Deprecated alias of :meth:`deserialize`."""
        warnings.warn(
            "Session.unserialize is deprecated. Use Session.deserialize.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.deserialize(*args, **kwargs)


def _frame_bytes(frame: Any) -> bytes:
    """Bytes of a zmq Frame / bytes-like frame (a str or int frame is a MessageError)."""
    if type(frame) is bytes:
        return frame
    if isinstance(frame, (str, int, float)) or frame is None:
        raise MessageError(f"message frame is {type(frame).__name__}, not bytes")
    data = getattr(frame, "bytes", None)
    if type(data) is bytes:
        return data
    return bytes(memoryview(frame))


def _type_problem(header: Any, parent: Any, metadata: Any) -> str:
    for name, value in (("header", header), ("parent_header", parent), ("metadata", metadata)):
        if type(value) is not dict:
            return f"{name} must be a dict, got {type(value).__name__}"
    return "bad message part types"


__all__ = ["DELIM", "MessageError", "SessionCodec"]
