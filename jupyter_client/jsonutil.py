"""``jupyter_client.jsonutil``: upstream's JSON helpers (implemented in the protocol layer)."""

from __future__ import annotations

from jupyter_client._lazy_names import upstream_names
from jupyter_client.protocol.jsonutil import (
    ISO8601,
    ISO8601_PAT,
    date_default,
    extract_dates,
    json_clean,
    json_default,
    next_attr_name,
    parse_date,
    squash_dates,
    tzlocal,
)

__all__ = [
    "ISO8601",
    "ISO8601_PAT",
    "date_default",
    "extract_dates",
    "json_clean",
    "json_default",
    "next_attr_name",
    "parse_date",
    "squash_dates",
    "tzlocal",
]


# Names upstream's module exposes because it imported them (jupyter_client/_upstream_names.py).
__getattr__, __dir__ = upstream_names(__name__, globals())
