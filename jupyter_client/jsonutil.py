"""``jupyter_client.jsonutil``: upstream's JSON helpers (implemented in the protocol layer)."""

from __future__ import annotations

from jupyter_client._lazy_names import lazy_names
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


# Names upstream's module exposes because it imported them; code written against upstream
# imports some from here. Served on first use (jupyter_client/_lazy_names.py).
__getattr__, __dir__ = lazy_names(
    __name__,
    globals(),
    {
        "Any": "typing:Any",
        "Iterable": "collections.abc:Iterable",
        "Union": "typing:Union",
        "b2a_base64": "binascii:b2a_base64",
        "date": "datetime:date",
        "datetime": "datetime:datetime",
        "math": "math",
        "numbers": "numbers",
        "re": "re",
        "types": "types",
        "warnings": "warnings",
    },
)
