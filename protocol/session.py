"""The Session core: Jupyter wire messages over zmq, as a plain class.

This is a plain class (no traitlets, no event loop) so that the actors layer can call it on the
hot path without trait machinery; ``jupyter_client.session.Session`` is the traitlets façade
over it. Every public option of upstream's ``Session`` exists here as a property; the hot
methods read only private attributes (``_pack``, ``_signer`` ...), which the setters (and the
façade's observers) keep up to date.

The core is assembled from layers, one module each:

* :mod:`.headers` - ids, timestamps, headers, the ``Message`` view (no Session needed);
* :mod:`.packers` - the JSON/pickle/... packers and packer selection (wire-format notes);
* :mod:`.signing` - HMAC signers and the replay-history policy;
* :mod:`.jsonutil` - date parsing, including the fast header-date pass;
* :mod:`.session_options` - ``SessionOptions``: the private state and option setters;
* :mod:`.codec` - ``SessionCodec``: ``msg``/``serialize``/``feed_identities``/``deserialize``
  (the hot-path API used by the actors layer);
* this module - ``SessionCoreBase`` (adds ``send``/``send_raw``/``recv`` on zmq sockets) and the
  keyword-constructed ``SessionCore``. It also re-exports every name of the layers above that
  ``jupyter_client.protocol.session`` has always exported.
"""

from __future__ import annotations

import logging
import os
import pprint
import sys
import types
from typing import Any

import zmq

from jupyter_client.protocol import headers
from jupyter_client.protocol.adapter import adapt
from jupyter_client.protocol.codec import DELIM, MessageError, SessionCodec
from jupyter_client.protocol.headers import (
    Message,
    extract_header,
    msg_header,
    new_id,
    new_id_bytes,
    squash_unicode,
    utc,
    utcnow,
)
from jupyter_client.protocol.jsonutil import ISO8601_PAT as ISO8601_PAT
from jupyter_client.protocol.jsonutil import _header_dates as _header_dates
from jupyter_client.protocol.jsonutil import extract_dates as extract_dates
from jupyter_client.protocol.jsonutil import json_clean as json_clean
from jupyter_client.protocol.jsonutil import json_default as json_default
from jupyter_client.protocol.jsonutil import squash_dates as squash_dates
from jupyter_client.protocol.packers import (
    PICKLE_PROTOCOL,
    fast_json_packer,
    fast_json_unpacker,
    has_msgpack,
    has_orjson,
    import_item,
    named_packers,
    orjson_packer,
    orjson_unpacker,
    pickle_packer,
    pickle_unpacker,
    std_json_packer,
    std_json_unpacker,
)
from jupyter_client.protocol.packers import Packer as Packer
from jupyter_client.protocol.packers import Unpacker as Unpacker
from jupyter_client.protocol.session_options import (
    MAX_BYTES,
    MAX_HEADER_SIZE,
    MAX_ITEMS,
    _to_bytes,
)
from jupyter_client.protocol.signing import SchemeError, digest_for_scheme, make_signer
from jupyter_client.protocol.signing import Signer as Signer
from jupyter_client.protocol.version import protocol_version as protocol_version

if has_msgpack:  # pragma: no cover - msgpack is not installed in our venv
    from jupyter_client.protocol.packers import msgpack_packer as msgpack_packer
    from jupyter_client.protocol.packers import msgpack_unpacker as msgpack_unpacker


def _zmq_asyncio_socket() -> Any:
    """``zmq.asyncio.Socket`` if that module has been loaded, else None (no such socket can
    exist then). A module imported lazily (``importlib.util.LazyLoader``, as ``import
    jupyter_client`` attaches ``zmq.asyncio``) is not a plain module until first used, and
    asking it for ``Socket`` would load it: we don't."""
    mod = sys.modules.get("zmq.asyncio")
    return mod.Socket if type(mod) is types.ModuleType else None


#: A tracker that is always done, for sends that are not tracked.
DONE = zmq.MessageTracker()


class SessionCoreBase(SessionCodec):
    """Every Session method and option property, without a constructor.

    The traitlets façade inherits this (a constructor here would be reached through
    ``HasTraits.__init__``'s cooperative ``super().__init__`` and reset the options); the plain
    :class:`SessionCore` adds the keyword constructor.
    """

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        stream: Any,
        msg_or_type: Any,
        content: Any = None,
        parent: Any = None,
        ident: Any = None,
        buffers: list[Any] | None = None,
        track: bool = False,
        header: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Build (unless given a message) and send a message; returns it with ``tracker``.

        ``stream`` may be a zmq socket (asyncio sockets are shadowed and sent synchronously),
        anything with ``send_multipart``, or None (serialize only).
        """
        if not isinstance(stream, zmq.Socket):
            track = False
        async_socket = _zmq_asyncio_socket()
        if async_socket is not None and isinstance(stream, async_socket):
            stream = zmq.Socket.shadow(stream.underlying)
        if isinstance(msg_or_type, (Message, dict)):
            msg: Any = msg_or_type
            if not buffers:
                buffers = (
                    msg.get("buffers", []) if isinstance(msg, dict) else msg.__dict__.get("buffers")
                )
        else:
            msg = self.msg(
                msg_or_type, content=content, parent=parent, header=header, metadata=metadata
            )
        if self._check_pid and headers._PID != self._pid:
            self._logger().warning("WARNING: attempted to send message from fork\n%s", msg)
            return None
        buffers = [] if buffers is None else buffers
        for idx, buf in enumerate(buffers):
            if isinstance(buf, memoryview):
                view = buf
            else:
                try:
                    view = memoryview(buf)
                except TypeError as e:
                    raise TypeError("Buffer objects must support the buffer protocol.") from e
            if not view.contiguous:
                raise ValueError(f"Buffer {idx} ({buf!r}) is not contiguous")
        if self._adapt_version:
            msg = adapt(msg, self._adapt_version)
        to_send: list[Any] = self.serialize(msg, ident)
        to_send.extend(buffers)
        copy = max(len(s) for s in to_send) < self._copy_threshold
        tracker: Any = DONE
        if stream and buffers and track and not copy:
            tracker = stream.send_multipart(to_send, copy=False, track=True)
        elif stream:
            stream.send_multipart(to_send, copy=copy)
        if self._debug:
            pprint.pprint(msg)
            pprint.pprint(to_send)
            pprint.pprint(buffers)
        msg["tracker"] = tracker
        result: dict[str, Any] = msg
        return result

    def send_raw(
        self, stream: Any, msg_list: list[Any], flags: int = 0, copy: bool = True, ident: Any = None
    ) -> None:
        """Send already packed ``[header, parent, metadata, content, *buffers]`` frames."""
        to_send: list[Any] = []
        if isinstance(ident, bytes):
            ident = [ident]
        if ident is not None:
            to_send.extend(ident)
        to_send.append(DELIM)
        to_send.append(self.sign(msg_list[0:4]))
        to_send.extend(msg_list)
        async_socket = _zmq_asyncio_socket()
        if async_socket is not None and isinstance(stream, async_socket):
            stream = zmq.Socket.shadow(stream.underlying)
        stream.send_multipart(to_send, flags, copy=copy)

    # -- receiving --------------------------------------------------------------------------

    def recv(
        self, socket: Any, mode: int = zmq.NOBLOCK, content: bool = True, copy: bool = True
    ) -> tuple[list[bytes] | None, dict[str, Any] | None]:
        """Receive one message: ``(idents, msg)``, or ``(None, None)`` if none is waiting."""
        if not isinstance(socket, zmq.Socket) and hasattr(socket, "socket"):
            socket = socket.socket  # a tornado ZMQStream
        async_socket = _zmq_asyncio_socket()
        if async_socket is not None and isinstance(socket, async_socket):
            socket = zmq.Socket.shadow(socket.underlying)
        try:
            msg_list = socket.recv_multipart(mode, copy=copy)
        except zmq.ZMQError as e:
            if e.errno == zmq.EAGAIN:
                return None, None
            raise
        idents, rest = self.feed_identities(msg_list, copy)
        return idents, self.deserialize(rest, content=content, copy=copy)


class SessionCore(SessionCoreBase):
    """Upstream ``Session`` behaviour as a plain class.

    Options are keyword arguments with upstream's names and defaults (``key`` defaults to a
    fresh random key, so a bare ``SessionCore()`` signs). ``max_header_size`` is ours.
    """

    def __init__(
        self,
        *,
        key: bytes | str | None = None,
        keyfile: str = "",
        signature_scheme: str = "hmac-sha256",
        packer: str = "json",
        unpacker: str | None = None,
        pack: Packer | None = None,
        unpack: Unpacker | None = None,
        session: str | None = None,
        username: str | None = None,
        metadata: dict[str, Any] | None = None,
        debug: bool = False,
        check_pid: bool = True,
        digest_history_size: int = 2**16,
        copy_threshold: int = 2**16,
        buffer_threshold: int = MAX_BYTES,
        item_threshold: int = MAX_ITEMS,
        adapt_version: int = 0,
        max_header_size: int = MAX_HEADER_SIZE,
        log: logging.Logger | None = None,
    ) -> None:
        self._init_state()
        self._log = log
        self._apply_debug(debug)
        self._apply_check_pid(check_pid)
        self._apply_username(username if username is not None else _DEFAULT_USERNAME)
        self._apply_metadata({} if metadata is None else metadata)
        self._apply_history_size(digest_history_size)
        self._apply_copy_threshold(copy_threshold)
        self.buffer_threshold = buffer_threshold
        self.item_threshold = item_threshold
        self._apply_adapt_version(adapt_version)
        self.max_header_size = max_header_size
        self._apply_session(session if session is not None else new_id())
        self._apply_packer(packer, "packer")
        if unpacker is not None:
            self._apply_packer(unpacker, "unpacker")
        if pack is not None:
            self._apply_pack(pack)
        if unpack is not None:
            self._apply_unpack(unpack)
        self._apply_signature_scheme(signature_scheme, rebuild=False)
        self._apply_key(new_id_bytes() if key is None else _to_bytes(key), rebuild=False)
        if keyfile:
            self._apply_keyfile(keyfile)
        self._finish_init()

    # -- copies -----------------------------------------------------------------------------

    def clone(self) -> SessionCore:
        """A new core with the same options and a copy of the digest history.

        The message counter is shared (upstream restarts it at 0, so a manager and the clients
        it creates produced identical msg_ids).
        """
        new = type(self).__new__(type(self))
        SessionCore.__init__(
            new,
            key=self._key,
            signature_scheme=self._scheme,
            packer=self._packer_name,
            session=self._session,
            username=self._username,
            metadata=dict(self._metadata),
            debug=self._debug,
            check_pid=self._check_pid,
            digest_history_size=self._history_size,
            copy_threshold=self._copy_threshold,
            buffer_threshold=self.buffer_threshold,
            item_threshold=self.item_threshold,
            adapt_version=self._adapt_version,
            max_header_size=self.max_header_size,
            log=self._log,
        )
        new._unpacker_name = self._unpacker_name
        new.pack, new.unpack, new.none = self._pack, self._unpack, self.none
        new._keyfile = self._keyfile
        new._history.update(self._history)
        new._counter = self._counter
        return new


_DEFAULT_USERNAME = os.environ.get("USER", "username")

# Everything this module exported before it was split keeps working: the names below, plus
# ``Packer``/``Unpacker``/``Signer``, the jsonutil helpers and ``_header_dates`` (imported above
# as ``name as name``, the explicit re-export form, since they were never in ``__all__``).
__all__ = [
    "DELIM",
    "DONE",
    "MAX_BYTES",
    "MAX_HEADER_SIZE",
    "MAX_ITEMS",
    "PICKLE_PROTOCOL",
    "Message",
    "MessageError",
    "SchemeError",
    "SessionCore",
    "SessionCoreBase",
    "digest_for_scheme",
    "extract_header",
    "fast_json_packer",
    "fast_json_unpacker",
    "has_msgpack",
    "has_orjson",
    "import_item",
    "std_json_packer",
    "std_json_unpacker",
    "make_signer",
    "msg_header",
    "named_packers",
    "new_id",
    "new_id_bytes",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
    "squash_unicode",
    "utc",
    "utcnow",
]
