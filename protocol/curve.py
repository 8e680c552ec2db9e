"""CurveZMQ policy decisions that need no zmq: does a kernelspec declare curve support?

Upstream 8.9 reads ``metadata.supported_encryption`` leniently (a string or a list-like,
trimmed, case-insensitive). Both the manager (``required`` must fail before anything is
written) and the provisioner (``auto`` decides whether to generate keys) ask the same question,
so the rule lives here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The values of ``KernelManager.transport_encryption``.
ENCRYPTION_POLICIES = ("disabled", "auto", "required")


def supported_encryption(metadata: Mapping[str, Any] | None) -> set[str]:
    """The lower-cased, trimmed names in ``metadata["supported_encryption"]``.

    A plain string counts as one name; a list, tuple or set as several; anything else (or
    non-string members) is ignored rather than failing a kernel start over a malformed spec.
    """
    value = (metadata or {}).get("supported_encryption")
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        return set()
    return {item.strip().lower() for item in items if isinstance(item, str)}


def spec_supports_curve(metadata: Mapping[str, Any] | None) -> bool:
    """Whether the kernelspec metadata declares CurveZMQ support."""
    return "curve" in supported_encryption(metadata)


def curve_wanted(policy: str, metadata: Mapping[str, Any] | None) -> bool:
    """Whether a launch under ``policy`` gets curve keys (``auto`` follows the spec)."""
    policy = policy.lower()
    if policy == "required":
        return True
    return policy == "auto" and spec_supports_curve(metadata)
