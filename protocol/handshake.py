"""The kernel registration handshake (JEP 66; protocol 5.6), sans-io.

Why: with a classic connection file the launcher picks five free ports, closes them and hopes
the kernel binds them before anyone else does (the port race). In the handshake the launcher
binds one *registration* socket, the kernel binds its five channels on ports the OS chooses and
reports them back over that socket, signed with the session key. Nothing is ever closed and
re-bound, so there is nothing to race for.

This module holds everything about the handshake that is not I/O, for both sides:

* :func:`supports_handshake` - whether a kernelspec's ``kernel_protocol_version`` opts in.
  The spec text ties the handshake to protocol 5.6; JEP 66 said 5.5, but ipykernel 7 declares
  ``"5.5"`` in its kernelspec without implementing the handshake, so 5.5 cannot be the trigger.
* :class:`RegistrationFile` / :func:`parse_registration_file` - the file given to the kernel
  instead of a connection file (``kernel_id, transport, registration_ip, registration_port,
  signature_scheme, key``; extra fields such as ``ip`` are kept).
* :class:`RegistrationCodec` - the registration message (kernel → launcher) and the
  acknowledgement (launcher → kernel). Both are ``[*idents, DELIM, signature, content]``: one
  JSON content frame, signed like a message (hex HMAC of the frame with the key and scheme of
  the session; an empty key means no signature and no check). Decoding validates every field
  and raises :class:`HandshakeError` naming what is wrong, never anything else.

Decisions where the spec is silent: ports may be JSON integers or decimal strings; the five
ports must be distinct and in 1..65535; the content carries ``kernel_id``, which must match the
launch's; content is capped at 64 KiB; the acknowledgement is ``{"status": "ok", "kernel_id":
...}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.protocol.signing import SchemeError, Signer, digest_for_scheme, make_signer

__all__ = [
    "DELIM",
    "HANDSHAKE_PROTOCOL_VERSION",
    "MAX_CONTENT",
    "REGISTRATION_PORTS",
    "HandshakeError",
    "Registration",
    "RegistrationCodec",
    "RegistrationFile",
    "parse_registration_file",
    "supports_handshake",
]

DELIM = b"<IDS|MSG>"
#: The first protocol version whose kernels implement the handshake.
HANDSHAKE_PROTOCOL_VERSION: tuple[int, int] = (5, 6)
#: The ports a kernel registers, in connection-file order.
REGISTRATION_PORTS: tuple[str, ...] = (
    "shell_port",
    "iopub_port",
    "stdin_port",
    "control_port",
    "hb_port",
)
MAX_CONTENT = 64 * 1024
_FILE_STR_FIELDS = ("kernel_id", "transport", "registration_ip", "signature_scheme", "key")


class HandshakeError(ValueError):
    """A registration file, registration or acknowledgement that is unusable; the message
    names the field or frame that is wrong."""


def supports_handshake(kernel_protocol_version: str | None) -> bool:
    """Whether a kernelspec declaring this ``kernel_protocol_version`` does the handshake.

    Missing, empty or unparsable versions mean "no" (the classic connection file); the caller
    may log the unparsable case.
    """
    if not kernel_protocol_version:
        return False
    parts = str(kernel_protocol_version).strip().split(".")
    try:
        numbers = tuple(int(p) for p in parts[:2])
    except ValueError:
        return False
    if len(numbers) == 1:
        numbers = (numbers[0], 0)
    return numbers >= HANDSHAKE_PROTOCOL_VERSION


def _signer(key: bytes, signature_scheme: str) -> Signer | None:
    if not key:
        return None
    try:
        digest = digest_for_scheme(signature_scheme)
        auth = hmac.HMAC(key, digestmod=digest)
    except (SchemeError, ValueError, TypeError) as e:
        raise HandshakeError(f"unusable signature_scheme {signature_scheme!r}: {e}") from e
    return make_signer(auth, key, digest)


def _port(name: str, value: Any) -> int:
    """A registered port: an int (not bool) or a decimal string, in 1..65535."""
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 5:
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HandshakeError(
            f"field {name!r}: expected a port number, got {type(value).__name__} {value!r:.40}"
        )
    if not 1 <= value <= 65535:
        raise HandshakeError(f"field {name!r}: port {value} is outside 1..65535")
    return value


# -- the registration file ------------------------------------------------------------------
@dataclass(frozen=True)
class RegistrationFile:
    """What the kernel is given instead of a connection file."""

    kernel_id: str
    registration_port: int
    key: str
    registration_ip: str = "127.0.0.1"
    transport: str = "tcp"
    signature_scheme: str = "hmac-sha256"
    #: Further fields (ours: ``ip``, where the kernel should bind its channels; curve keys).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.transport}://{self.registration_ip}:{self.registration_port}"

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "kernel_id": self.kernel_id,
            "transport": self.transport,
            "registration_ip": self.registration_ip,
            "registration_port": self.registration_port,
            "signature_scheme": self.signature_scheme,
            "key": self.key,
        }
        for name, value in self.extra.items():
            doc.setdefault(name, value)
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def parse_registration_file(
    data: str | bytes | Mapping[str, Any], source: str = "<registration>"
) -> RegistrationFile:
    """Decode and validate a registration file (text or decoded dict)."""
    if isinstance(data, (str, bytes)):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise HandshakeError(f"{source}: not valid JSON ({e})") from e
    else:
        doc = data
    if not isinstance(doc, Mapping):
        raise HandshakeError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    for name in _FILE_STR_FIELDS:
        if name not in doc:
            raise HandshakeError(f"{source}: field {name!r} is missing")
        if not isinstance(doc[name], str):
            raise HandshakeError(
                f"{source}: field {name!r}: expected a string, got {type(doc[name]).__name__}"
            )
    if doc["transport"] != "tcp":
        raise HandshakeError(
            f"{source}: field 'transport': only tcp is supported, got {doc['transport']!r}"
        )
    if "registration_port" not in doc:
        raise HandshakeError(f"{source}: field 'registration_port' is missing")
    try:
        port = _port("registration_port", doc["registration_port"])
    except HandshakeError as e:
        raise HandshakeError(f"{source}: {e}") from None
    try:
        digest_for_scheme(doc["signature_scheme"])
    except SchemeError as e:
        raise HandshakeError(f"{source}: field 'signature_scheme': {e}") from None
    extra = {k: v for k, v in doc.items() if k not in (*_FILE_STR_FIELDS, "registration_port")}
    return RegistrationFile(
        kernel_id=doc["kernel_id"],
        registration_port=port,
        key=doc["key"],
        registration_ip=doc["registration_ip"],
        transport=doc["transport"],
        signature_scheme=doc["signature_scheme"],
        extra=extra,
    )


# -- the registration message and its acknowledgement ----------------------------------------
@dataclass(frozen=True)
class Registration:
    """A valid registration: who sent it (zmq routing prefix) and the five ports."""

    kernel_id: str
    ports: Mapping[str, int]
    idents: tuple[bytes, ...] = ()


class RegistrationCodec:
    """Encodes and decodes the two handshake messages for one kernel's key and scheme.

    ``kernel_id`` is the id the launcher expects (decoding rejects a registration for another
    kernel) or the kernel's own id (encoding).
    """

    def __init__(self, key: bytes | str, signature_scheme: str, kernel_id: str) -> None:
        self.key = key.encode() if isinstance(key, str) else bytes(key)
        self.signature_scheme = signature_scheme
        self.kernel_id = kernel_id
        self._sign = _signer(self.key, signature_scheme)

    # signing
    def sign(self, content: bytes) -> bytes:
        return b"" if self._sign is None else self._sign([content])

    def _pack(self, content: dict[str, Any], idents: Sequence[bytes] = ()) -> list[bytes]:
        body = json.dumps(content, separators=(",", ":")).encode()
        return [*idents, DELIM, self.sign(body), body]

    def _unpack(
        self, frames: Sequence[bytes], what: str
    ) -> tuple[tuple[bytes, ...], dict[str, Any]]:
        """Split, verify and decode ``[*idents, DELIM, signature, content]``."""
        frames = [bytes(f) for f in frames]
        try:
            at = frames.index(DELIM)
        except ValueError:
            raise HandshakeError(f"{what}: no {DELIM.decode()} delimiter frame") from None
        idents, rest = tuple(frames[:at]), frames[at + 1 :]
        if len(rest) != 2:
            raise HandshakeError(
                f"{what}: expected a signature and one content frame after the delimiter, "
                f"got {len(rest)} frame(s)"
            )
        signature, body = rest
        if len(body) > MAX_CONTENT:
            raise HandshakeError(f"{what}: content of {len(body)} bytes exceeds {MAX_CONTENT}")
        if self._sign is not None:
            if not signature:
                raise HandshakeError(f"{what}: unsigned (the key is not empty)")
            if not hmac.compare_digest(signature, self._sign([body])):
                raise HandshakeError(f"{what}: bad signature (wrong key or altered content)")
        try:
            content = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise HandshakeError(f"{what}: content is not valid JSON ({e})") from None
        if not isinstance(content, dict):
            raise HandshakeError(
                f"{what}: content must be a JSON object, got {type(content).__name__}"
            )
        return idents, content

    # kernel → launcher
    def encode_registration(self, ports: Mapping[str, int]) -> list[bytes]:
        """The kernel's registration (frames for a DEALER: no routing prefix)."""
        content: dict[str, Any] = {"kernel_id": self.kernel_id}
        for name in REGISTRATION_PORTS:
            content[name] = _port(name, ports[name])
        return self._pack(content)

    def decode_registration(self, frames: Sequence[bytes]) -> Registration:
        """Validate a registration as received on the launcher's ROUTER."""
        idents, content = self._unpack(frames, "registration")
        kernel_id = content.get("kernel_id")
        if not isinstance(kernel_id, str):
            raise HandshakeError("registration: field 'kernel_id' is missing or not a string")
        if kernel_id != self.kernel_id:
            raise HandshakeError(
                f"registration: for kernel {kernel_id!r:.80}, expected {self.kernel_id!r}"
            )
        ports: dict[str, int] = {}
        for name in REGISTRATION_PORTS:
            if name not in content:
                raise HandshakeError(f"registration: field {name!r} is missing")
            try:
                ports[name] = _port(name, content[name])
            except HandshakeError as e:
                raise HandshakeError(f"registration: {e}") from None
        if len(set(ports.values())) != len(ports):
            raise HandshakeError(f"registration: the five ports must be distinct, got {ports}")
        return Registration(kernel_id=kernel_id, ports=ports, idents=idents)

    # launcher → kernel
    def encode_reply(self, registration: Registration, status: str = "ok") -> list[bytes]:
        """The acknowledgement, routed back to the registering peer."""
        content = {"status": status, "kernel_id": registration.kernel_id}
        return self._pack(content, registration.idents)

    def decode_reply(self, frames: Sequence[bytes]) -> dict[str, Any]:
        """The kernel's check of the acknowledgement; ``status`` must be ``ok``."""
        _, content = self._unpack(frames, "acknowledgement")
        if content.get("status") != "ok":
            raise HandshakeError(
                f"acknowledgement: status {content.get('status')!r:.40}, expected 'ok'"
            )
        return content
