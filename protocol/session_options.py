"""Session options: the core's private state and the setters that keep it consistent.

Why a module of its own: the Session core is read on the hot path through private attributes
only (``_pack``, ``_signer``, ``_session`` ...). This class owns that state: it creates it,
exposes every upstream option as a property, and funnels each change through one ``_apply_*``
method that also updates whatever is derived from it (packer names -> callables, key and scheme
-> signer). The traitlets façade (``jupyter_client.session.Session``) shadows the properties
with traits and calls the same ``_apply_*`` methods from its observers, so both front ends keep
the state identical. Message building and parsing live in :mod:`.codec`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from jupyter_client.protocol import headers
from jupyter_client.protocol.headers import utcnow
from jupyter_client.protocol.packers import (
    Packer,
    Unpacker,
    _squashing,
    fast_json_packer,
    fast_json_unpacker,
    import_item,
    named_packers,
)
from jupyter_client.protocol.signing import SchemeError, Signer, digest_for_scheme, make_signer

MAX_ITEMS = 64
MAX_BYTES = 1024

#: Largest accepted header / parent_header frame. Real headers are a few hundred bytes; the
#: limit keeps a hostile or broken peer from making us parse megabytes of "header".
MAX_HEADER_SIZE = 1 << 20


class SessionOptions:
    """Every Session option as private state plus a property, without a constructor.

    The façade inherits this (a constructor here would be reached through
    ``HasTraits.__init__``'s cooperative ``super().__init__`` and reset the options); the plain
    ``SessionCore`` adds the keyword constructor.
    """

    # plain defaults (the façade shadows the first two with traits)
    buffer_threshold: int = MAX_BYTES
    item_threshold: int = MAX_ITEMS
    max_header_size: int = MAX_HEADER_SIZE

    # -- state ---------------------------------------------------------------------------

    def _init_state(self) -> None:
        """Create every private attribute the hot path reads (before any option is applied)."""
        self._log: logging.Logger | None = None
        self._pack: Packer = fast_json_packer
        self._unpack: Unpacker = fast_json_unpacker
        self._packer_name = "json"
        self._unpacker_name = "json"
        self.none: bytes = b"{}"
        self._key = b""
        self._keyfile = ""
        self._scheme = "hmac-sha256"
        self._digest_mod: Any = hashlib.sha256
        self._auth: hmac.HMAC | None = None
        self._built_auth: tuple[hmac.HMAC, bytes, Any] | None = None
        self._signer: Signer | None = None
        self._history: set[bytes] = set()
        self._history_size = 2**16
        self._session = ""
        self._bsession = b""
        self._username = ""
        self._metadata: dict[str, Any] = {}
        self._debug = False
        self._check_pid = True
        self._pid = headers._PID
        self._copy_threshold = 2**16
        self._adapt_version = 0
        self._counter: Iterator[int] = itertools.count(0)

    def _finish_init(self) -> None:
        """Upstream's construction tail: check packers, cache ``none``, pid, auth, warning."""
        self._check_packers()
        self.pid = headers._PID
        self._new_auth()
        if not self._key:
            self._logger().warning(
                "Message signing is disabled.  This is insecure and not recommended!"
            )

    def _logger(self) -> logging.Logger | logging.LoggerAdapter[Any]:
        return self._log if self._log is not None else logging.getLogger("jupyter_client.session")

    # -- option appliers (shared by the core's properties and the façade's observers) ----------

    def _apply_debug(self, value: bool) -> None:
        self._debug = bool(value)

    def _apply_check_pid(self, value: bool) -> None:
        self._check_pid = bool(value)

    def _apply_username(self, value: str) -> None:
        self._username = value

    def _apply_metadata(self, value: dict[str, Any]) -> None:
        self._metadata = value

    def _apply_history(self, value: set[bytes]) -> None:
        self._history = value

    def _apply_history_size(self, value: int) -> None:
        self._history_size = int(value)

    def _apply_copy_threshold(self, value: int) -> None:
        self._copy_threshold = int(value)

    def _apply_adapt_version(self, value: int) -> None:
        self._adapt_version = int(value)

    def _apply_session(self, value: str) -> None:
        self._session = str(value)
        self.bsession = self._session.encode("ascii")

    def _apply_bsession(self, value: bytes) -> None:
        self._bsession = value

    def _apply_packer(self, name: str, which: str) -> None:
        """Upstream's packer/unpacker name rules: a known name sets both callables and both
        names; an import string sets only the one callable."""
        pair = named_packers(name)
        if pair is None:
            obj = import_item(str(name))
            if which == "packer":
                self._packer_name = name
                self.pack = obj
            else:
                self._unpacker_name = name
                self.unpack = obj
            return
        self._packer_name = self._unpacker_name = name
        self.pack, self.unpack = pair
        if self.packer != name:
            self.packer = name
        if self.unpacker != name:
            self.unpacker = name

    def _apply_pack(self, fn: Packer) -> None:
        self._pack = fn

    def _apply_unpack(self, fn: Unpacker) -> None:
        self._unpack = fn

    def _apply_signature_scheme(self, scheme: str, rebuild: bool = True) -> None:
        digest = digest_for_scheme(scheme)
        self._scheme = scheme
        self.digest_mod = digest
        if rebuild:
            self._new_auth()

    def _apply_digest_mod(self, value: Any) -> None:
        self._digest_mod = value

    def _apply_key(self, key: bytes, rebuild: bool = True) -> None:
        self._key = key
        if rebuild:
            self._new_auth()

    def _apply_keyfile(self, path: str) -> None:
        self._keyfile = path
        with open(path, "rb") as f:
            self.key = f.read().strip()

    def _new_auth(self) -> None:
        """Rebuild the HMAC from key and digest (None when the key is empty)."""
        if self._key:
            try:
                auth = hmac.HMAC(self._key, digestmod=self._digest_mod)
            except Exception as e:
                raise SchemeError(f"cannot build HMAC with {self._digest_mod!r}: {e}") from e
            self._built_auth = (auth, self._key, self._digest_mod)
        else:
            auth = None
            self._built_auth = None
        self.auth = auth
        self._apply_auth(auth)  # the façade's observer does not fire when None stays None

    def _apply_auth(self, auth: hmac.HMAC | None) -> None:
        self._auth = auth
        if auth is None:
            self._signer = None
        elif self._built_auth is not None and self._built_auth[0] is auth:
            self._signer = make_signer(auth, self._built_auth[1], self._built_auth[2])
        else:
            self._signer = make_signer(auth)

    # -- public options as properties (the façade shadows these with traits) -------------

    debug = property(lambda self: self._debug, _apply_debug)
    check_pid = property(lambda self: self._check_pid, _apply_check_pid)
    username = property(lambda self: self._username, _apply_username)
    metadata = property(lambda self: self._metadata, _apply_metadata)
    digest_history = property(lambda self: self._history, _apply_history)
    digest_history_size = property(lambda self: self._history_size, _apply_history_size)
    copy_threshold = property(lambda self: self._copy_threshold, _apply_copy_threshold)
    adapt_version = property(lambda self: self._adapt_version, _apply_adapt_version)
    session = property(lambda self: self._session, _apply_session)
    bsession = property(lambda self: self._bsession, _apply_bsession)
    pack = property(lambda self: self._pack, _apply_pack)
    unpack = property(lambda self: self._unpack, _apply_unpack)
    signature_scheme = property(lambda self: self._scheme, _apply_signature_scheme)
    digest_mod = property(lambda self: self._digest_mod, _apply_digest_mod)
    key = property(lambda self: self._key, lambda self, v: self._apply_key(_to_bytes(v)))
    keyfile = property(lambda self: self._keyfile, _apply_keyfile)
    auth = property(lambda self: self._auth, _apply_auth)

    @property
    def packer(self) -> str:
        return self._packer_name

    @packer.setter
    def packer(self, name: str) -> None:
        if name != self._packer_name or named_packers(name) is None:
            self._apply_packer(name, "packer")

    @property
    def unpacker(self) -> str:
        return self._unpacker_name

    @unpacker.setter
    def unpacker(self, name: str) -> None:
        if name != self._unpacker_name or named_packers(name) is None:
            self._apply_packer(name, "unpacker")

    @property
    def pid(self) -> int:
        return self._pid

    @pid.setter
    def pid(self, value: int) -> None:
        self._pid = int(value)

    @property
    def message_count(self) -> int:
        """Next message number (shared with clones, so their msg_ids never collide)."""
        text = repr(self._counter)  # "count(N)": peeking without consuming
        return int(text[text.index("(") + 1 : -1])

    @message_count.setter
    def message_count(self, value: int) -> None:
        self._counter = itertools.count(int(value))

    # -- packers check ---------------------------------------------------------------------

    def _check_packers(self) -> None:
        """Upstream's construction-time packer sanity check (and datetime squashing wrap)."""
        pack, unpack = self._pack, self._unpack
        probe = {"a": [1, "hi"]}
        try:
            packed = pack(probe)
        except Exception as e:
            raise ValueError(
                f"packer '{self.packer}' could not serialize a simple message: {e}"
            ) from e
        if not isinstance(packed, bytes):
            raise ValueError(f"message packed to {type(packed)!r}, but bytes are required")
        try:
            ok = unpack(packed) == probe
        except Exception as e:
            raise ValueError(
                f"unpacker {self.unpacker!r} could not handle output from packer "
                f"{self.packer!r}: {e}"
            ) from e
        if not ok:
            raise ValueError(
                f"unpacker {self.unpacker!r} could not handle output from packer {self.packer!r}"
            )
        try:
            back = unpack(pack({"t": utcnow()}))
            if isinstance(back["t"], datetime):
                raise ValueError("Shouldn't deserialize to datetime")
        except Exception:
            self.pack = _squashing(pack)
            self.unpack = unpack
        self.none = self._pack({})


def _to_bytes(value: bytes | str | Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf8")
    return bytes(value)


__all__ = ["MAX_BYTES", "MAX_HEADER_SIZE", "MAX_ITEMS", "SessionOptions"]
