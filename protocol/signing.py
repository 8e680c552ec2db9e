"""Message authentication: HMAC signers and the replay-protection history policy.

Why a module of its own: signing is the security boundary of the protocol and the largest fixed
cost of every message, so its tricks (pre-fed key pads instead of ``hmac.digest``, join versus
streaming) deserve to be read, measured and audited apart from message building.

* Signatures are HMAC hex digests over frames 1..4 (header, parent header, metadata, content).
  The HMAC is computed from hash objects pre-fed with the key pads (see :func:`make_signer`).
  For short messages the four frames are joined into one update; above 64 KiB of content the
  frames are fed one by one, which avoids the join copy.
* Replay protection: the Session core records a signature only after it has been verified
  (upstream records forged ones too); :func:`cull_digest_history` prunes as upstream does
  (drop a random 10% when over the limit).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Sequence
from typing import Any

Signer = Callable[[Sequence[Any]], bytes]
_JOIN_LIMIT = 1 << 16  # above this content size, stream into a copied HMAC instead of joining


class SchemeError(ValueError):
    """An unusable ``signature_scheme`` (the façade re-raises it as ``TraitError``)."""


def digest_for_scheme(scheme: str) -> Any:
    """The hashlib constructor for ``hmac-<name>``; :class:`SchemeError` otherwise."""
    if not scheme.startswith("hmac-"):
        raise SchemeError(f"signature_scheme must start with 'hmac-', got {scheme!r}")
    hash_name = scheme.split("-", 1)[1]
    try:
        return getattr(hashlib, hash_name)
    except AttributeError as e:
        raise SchemeError(f"hashlib has no such attribute: {hash_name}") from e


def _hmac_pads(key: bytes, digest: Any) -> tuple[Any, Any]:
    """Hash objects already fed with ``key ^ ipad`` and ``key ^ opad`` (RFC 2104)."""
    block = digest().block_size
    if len(key) > block:
        key = digest(key).digest()
    key = key.ljust(block, b"\0")
    inner = digest(key.translate(_IPAD))
    outer = digest(key.translate(_OPAD))
    return inner, outer


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def make_signer(auth: hmac.HMAC, key: bytes | None = None, digest: Any = None) -> Signer:
    """A function signing a list of frames: hex HMAC digest as ASCII bytes.

    With the raw ``key`` and hashlib ``digest`` known, HMAC is computed from hash objects
    pre-fed with the two key pads (a copy and two updates per message): measured 2-3x faster
    than ``hmac.digest`` (OpenSSL 3 re-fetches the algorithm per call) and than copying an
    ``hmac.HMAC``. The construction is checked against ``hmac`` once; any mismatch or exotic
    digest falls back to copying ``auth``. Small messages are joined into one update; above
    64 KiB of content the frames are fed one by one to avoid the copy.
    """
    copy = auth.copy

    def sign_stream(parts: Sequence[Any]) -> bytes:
        h = copy()
        for p in parts:
            h.update(p)
        return h.hexdigest().encode()

    if key is None or digest is None:
        return sign_stream
    try:
        inner, outer = _hmac_pads(key, digest)
        probe = inner.copy()
        probe.update(b"probe")
        check = outer.copy()
        check.update(probe.digest())
        if check.hexdigest() != hmac.new(key, b"probe", digest).hexdigest():
            return sign_stream
    except Exception:
        return sign_stream
    icopy, ocopy = inner.copy, outer.copy
    join = b"".join

    def sign(parts: Sequence[Any]) -> bytes:
        i = icopy()
        if len(parts) == 4 and len(parts[3]) < _JOIN_LIMIT:
            i.update(join(parts))
        else:
            for p in parts:
                i.update(p)
        o = ocopy()
        o.update(i.digest())
        return o.hexdigest().encode()

    return sign


def cull_digest_history(history: set[bytes], size: int) -> None:
    """Shrink an over-full signature history in place: drop a random 10% (or the excess).

    In place because the façade's ``digest_history`` trait holds this very set.
    """
    current = len(history)
    n_to_cull = max(current // 10, current - size)
    if n_to_cull >= current:
        history.clear()
        return
    history.difference_update(random.sample(sorted(history), n_to_cull))


__all__ = [
    "SchemeError",
    "Signer",
    "cull_digest_history",
    "digest_for_scheme",
    "make_signer",
]
