"""``jupyter_client.session``: upstream's module, a traitlets façade over the Session core.

``Session`` is a ``Configurable`` with upstream's trait names, defaults, ``config=True`` flags
and validation errors. Its hot methods (``msg``, ``serialize``, ``deserialize``, ``sign``,
``send``...) are inherited from :class:`jupyter_client.protocol.session.SessionCore` and read only
the core's private state; trait observers push every change into that state, so no trait is
read per message.

Deliberate differences from upstream (documented in the core's module docstring):

* the default ``packer``/``unpacker`` is ``"json"``, served by :func:`json_packer` /
  :func:`json_unpacker` as upstream's is, but ours are the msgspec ones whose output is compact
  JSON (what upstream's orjson packer emits); upstream's byte-exact stdlib packer is our
  :func:`std_json_packer` (``std_json_unpacker``);
* replay protection records signatures only after verifying them; ``clone()`` shares the
  message counter so clones never repeat a ``msg_id``;
* malformed messages raise :class:`MessageError` (a ``ValueError`` and ``TypeError``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import typing as t
import warnings

import zmq
from traitlets import (
    Any,
    Bool,
    Callable,
    CBytes,
    CUnicode,
    Dict,
    DottedObjectName,
    Instance,
    Integer,
    Set,
    TraitError,
    Unicode,
    observe,
)
from traitlets.config.configurable import Configurable, LoggingConfigurable
from traitlets.log import get_logger

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol.jsonutil import extract_dates, json_clean, json_default, squash_dates
from jupyter_client.protocol.session import (
    DELIM,
    DONE,
    MAX_BYTES,
    MAX_ITEMS,
    PICKLE_PROTOCOL,
    Message,
    MessageError,
    SchemeError,
    SessionCoreBase,
    extract_header,
    fast_json_packer,
    fast_json_unpacker,
    has_msgpack,
    has_orjson,
    msg_header,
    new_id,
    new_id_bytes,
    orjson_packer,
    orjson_unpacker,
    pickle_packer,
    pickle_unpacker,
    squash_unicode,
    std_json_packer,
    std_json_unpacker,
    utc,
    utcnow,
)
from jupyter_client.protocol.version import protocol_version

if has_msgpack:  # pragma: no cover - msgpack is not installed here
    from jupyter_client.protocol.session import msgpack_packer, msgpack_unpacker  # noqa: F401

#: Upstream's names for the ``"json"`` packer pair, which ours serves with the fast ones (so
#: ``Session(packer="json").pack is json_packer``, and the import string
#: ``"jupyter_client.session.json_packer"`` selects the same packer as ``"json"``).
json_packer = fast_json_packer
json_unpacker = fast_json_unpacker

session_aliases = {
    "ident": "Session.session",
    "user": "Session.username",
    "keyfile": "Session.keyfile",
}

session_flags = {
    "secure": (
        {"Session": {"key": new_id_bytes(), "keyfile": ""}},
        """Use HMAC digests for authentication of messages.
        Setting this flag will generate a new UUID to use as the HMAC key.
        """,
    ),
    "no-secure": (
        {"Session": {"key": b"", "keyfile": ""}},
        """Don't authenticate messages.""",
    ),
}


def default_secure(cfg: t.Any) -> None:  # pragma: no cover - deprecated
    """Deprecated: give ``cfg.Session`` a random key unless key/keyfile are configured."""
    warnings.warn("default_secure is deprecated", DeprecationWarning, stacklevel=2)
    if "Session" in cfg and ("key" in cfg.Session or "keyfile" in cfg.Session):
        return
    cfg.Session.key = new_id_bytes()


class SessionFactory(LoggingConfigurable):
    """Base for configurables that own a Session, a zmq Context, a logger and an IOLoop."""

    logname = Unicode("")

    @observe("logname")
    def _logname_changed(self, change: t.Any) -> None:
        self.log = logging.getLogger(change["new"])

    context = Instance("zmq.Context")

    def _context_default(self) -> zmq.Context:
        return zmq.Context()

    session = Instance("jupyter_client.session.Session", allow_none=True)

    loop = Instance("tornado.ioloop.IOLoop")

    def _loop_default(self) -> t.Any:
        from tornado.ioloop import IOLoop  # tornado is optional; only needed if loop is read

        return IOLoop.current()

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        if self.session is None:
            self.session = Session(**kwargs)


class Session(Configurable, SessionCoreBase):
    """Build, sign, send, receive and parse Jupyter messages (upstream's configurable).

    Accepts every upstream trait as a keyword argument, plus ``parent=``, ``config=`` and
    ``log=`` (the logger for the "signing disabled" and fork warnings).
    """

    debug = Bool(False, config=True, help="""Debug output in the Session""")

    check_pid = Bool(
        True,
        config=True,
        help="""Whether to check PID to protect against calls after fork.

        This check can be disabled if fork-safety is handled elsewhere.
        """,
    )

    packer = DottedObjectName(
        "json",
        config=True,
        help="""The name of the packer for serializing messages.
            Should be one of 'json', 'pickle', or an import name
            for a custom callable serializer.""",
    )
    unpacker = DottedObjectName(
        "json",
        config=True,
        help="""The name of the unpacker for unserializing messages.
        Only used with custom functions for `packer`.""",
    )
    pack = Callable(fast_json_packer)
    unpack = Callable(fast_json_unpacker)

    session = CUnicode("", config=True, help="""The UUID identifying this session.""")

    def _session_default(self) -> str:
        u = new_id()
        self.bsession = u.encode("ascii")
        return u

    bsession = CBytes(b"")

    username = Unicode(
        os.environ.get("USER", "username"),
        help="""Username for the Session. Default is your system username.""",
        config=True,
    )

    metadata = Dict(
        {},
        config=True,
        help="Metadata dictionary, which serves as the default top-level metadata dict for "
        "each message.",
    )

    adapt_version = Integer(0)

    key = CBytes(config=True, help="""execution key, for signing messages.""")

    def _key_default(self) -> bytes:
        return new_id_bytes()

    signature_scheme = Unicode(
        "hmac-sha256",
        config=True,
        help="""The digest scheme used to construct the message signatures.
        Must have the form 'hmac-HASH'.""",
    )

    digest_mod = Any()

    def _digest_mod_default(self) -> t.Callable[..., t.Any]:
        return hashlib.sha256

    auth = Instance(hmac.HMAC, allow_none=True)

    digest_history = Set()
    digest_history_size = Integer(
        2**16,
        config=True,
        help="""The maximum number of digests to remember.

        The digest history will be culled when it exceeds this value.
        """,
    )

    keyfile = Unicode("", config=True, help="""path to file containing execution key.""")

    pid = Integer()

    copy_threshold = Integer(
        2**16,
        config=True,
        help="Threshold (in bytes) beyond which a buffer should be sent without copying.",
    )
    buffer_threshold = Integer(
        MAX_BYTES,
        config=True,
        help="Threshold (in bytes) beyond which an object's buffer should be extracted to avoid "
        "pickling.",
    )
    item_threshold = Integer(
        MAX_ITEMS,
        config=True,
        help="""The maximum number of items for a container to be introspected for custom
        serialization. Containers larger than this are pickled outright.
        """,
    )

    def __init__(self, **kwargs: t.Any) -> None:
        log = kwargs.pop("log", None)
        self._init_state()
        self._log = log
        super().__init__(**kwargs)
        self._sync_core()
        self._finish_init()

    def _sync_core(self) -> None:
        """Push every trait value (defaults included: they fire no observer) into the core."""
        self._apply_debug(self.debug)
        self._apply_check_pid(self.check_pid)
        self._apply_username(self.username)
        self._apply_metadata(self.metadata)
        self._apply_history(self.digest_history)
        self._apply_history_size(self.digest_history_size)
        self._apply_copy_threshold(self.copy_threshold)
        self._apply_adapt_version(self.adapt_version)
        self._session = self.session  # the default also sets bsession
        self._apply_bsession(self.bsession)
        self._packer_name, self._unpacker_name = self.packer, self.unpacker
        self._apply_pack(self.pack)
        self._apply_unpack(self.unpack)
        self._scheme = self.signature_scheme
        self._apply_digest_mod(self.digest_mod)
        self._key = self.key
        self._keyfile = self.keyfile

    def _logger(self) -> logging.Logger | logging.LoggerAdapter[t.Any]:
        """Upstream logs through traitlets' (application) logger unless ``log=`` was given."""
        if self._log is not None:
            return self._log
        return get_logger()

    # -- observers: trait changes -> core state -------------------------------------------

    @observe("debug")
    def _debug_changed(self, change: t.Any) -> None:
        self._apply_debug(change["new"])

    @observe("check_pid")
    def _check_pid_changed(self, change: t.Any) -> None:
        self._apply_check_pid(change["new"])

    @observe("username")
    def _username_changed(self, change: t.Any) -> None:
        self._apply_username(change["new"])

    @observe("metadata")
    def _metadata_changed(self, change: t.Any) -> None:
        self._apply_metadata(change["new"])

    @observe("digest_history")
    def _digest_history_changed(self, change: t.Any) -> None:
        self._apply_history(change["new"])

    @observe("digest_history_size")
    def _digest_history_size_changed(self, change: t.Any) -> None:
        self._apply_history_size(change["new"])

    @observe("copy_threshold")
    def _copy_threshold_changed(self, change: t.Any) -> None:
        self._apply_copy_threshold(change["new"])

    @observe("adapt_version")
    def _adapt_version_changed(self, change: t.Any) -> None:
        self._apply_adapt_version(change["new"])

    @observe("session")
    def _session_changed(self, change: t.Any) -> None:
        self._apply_session(change["new"])

    @observe("bsession")
    def _bsession_changed(self, change: t.Any) -> None:
        self._apply_bsession(change["new"])

    @observe("packer", "unpacker")
    def _packer_unpacker_changed(self, change: t.Any) -> None:
        self._apply_packer(change["new"], change["name"])

    @observe("pack")
    def _pack_changed(self, change: t.Any) -> None:
        self._apply_pack(change["new"])

    @observe("unpack")
    def _unpack_changed(self, change: t.Any) -> None:
        self._apply_unpack(change["new"])

    @observe("key")
    def _key_changed(self, change: t.Any) -> None:
        self._apply_key(change["new"])

    @observe("signature_scheme")
    def _signature_scheme_changed(self, change: t.Any) -> None:
        try:
            self._apply_signature_scheme(change["new"])
        except SchemeError as e:
            raise TraitError(str(e)) from e

    @observe("digest_mod")
    def _digest_mod_changed(self, change: t.Any) -> None:
        self._apply_digest_mod(change["new"])

    @observe("auth")
    def _auth_changed(self, change: t.Any) -> None:
        self._apply_auth(change["new"])

    @observe("keyfile")
    def _keyfile_changed(self, change: t.Any) -> None:
        self._apply_keyfile(change["new"])

    @observe("pid")
    def _pid_changed(self, change: t.Any) -> None:
        self._pid = change["new"]

    def clone(self) -> Session:
        """A new Session with every trait copied and a copy of the digest history.

        Unlike upstream the message counter is shared, so msg_ids stay unique across clones.
        """
        new = type(self)(log=self._log)
        for name in self.traits():
            setattr(new, name, getattr(self, name))
        new.digest_history = set(self.digest_history)
        new._counter = self._counter
        return new


__all__ = [
    "DELIM",
    "DONE",
    "MAX_BYTES",
    "MAX_ITEMS",
    "PICKLE_PROTOCOL",
    "Message",
    "MessageError",
    "Session",
    "SessionFactory",
    "default_secure",
    "extract_dates",
    "extract_header",
    "has_msgpack",
    "has_orjson",
    "json_clean",
    "json_default",
    "json_packer",
    "json_unpacker",
    "msg_header",
    "new_id",
    "new_id_bytes",
    "orjson_packer",
    "orjson_unpacker",
    "pickle_packer",
    "pickle_unpacker",
    "protocol_version",
    "session_aliases",
    "session_flags",
    "squash_dates",
    "squash_unicode",
    "std_json_packer",
    "std_json_unpacker",
    "utc",
    "utcnow",
]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
