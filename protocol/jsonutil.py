"""JSON helpers with upstream ``jupyter_client.jsonutil`` semantics, without ``dateutil``.

Why our own: upstream parses header dates with ``dateutil.isoparse`` and a regex, which dominates
the cost of deserializing small messages. Every string that matches :data:`ISO8601_PAT` is a
subset of what :meth:`datetime.fromisoformat` (Python >= 3.11) accepts, so we parse with it and
only fall back to a tiny manual parser on older Pythons. Timezones are ``datetime.timezone``
objects (upstream returns dateutil's ``tzutc``/``tzoffset``; the datetimes compare equal).
Naive timestamps are interpreted as local time with a ``DeprecationWarning``, as upstream does.

:func:`_header_dates` is the Session core's in-place variant of :func:`extract_dates` for
freshly decoded headers: a cheap shape test skips the regex for most strings and parsed
timestamps are memoised.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
import time
import types
import warnings
from binascii import b2a_base64
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

next_attr_name = "__next__"

ISO8601 = "%Y-%m-%dT%H:%M:%S.%f"
ISO8601_PAT = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,6})?(Z|([\+\-]\d{2}:?\d{2}))?$"
)

_NAIVE_WARNING = "Interpreting naive datetime as local %s. Please add timezone info to timestamps."


class tzlocal(tzinfo):
    """The system's local time zone, daylight saving included: each datetime gets the offset in
    force at its own moment (a fixed "offset now" would be an hour off for dates across a DST
    change). What upstream attaches to naive timestamps, without depending on dateutil."""

    @staticmethod
    def _tm(dt: datetime | None) -> time.struct_time:
        if dt is None:
            return time.localtime()
        # As local wall time; mktime resolves DST itself (tm_isdst -1).
        return time.localtime(time.mktime((*dt.replace(tzinfo=None).timetuple()[:8], -1)))

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(seconds=self._tm(dt).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta:
        tm = self._tm(dt)
        return timedelta(seconds=tm.tm_gmtoff + time.timezone) if tm.tm_isdst > 0 else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self._tm(dt).tm_zone

    def fromutc(self, dt: datetime) -> datetime:
        seconds = (dt.replace(tzinfo=None) - _EPOCH).total_seconds()
        return dt + timedelta(seconds=time.localtime(seconds).tm_gmtoff)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, tzlocal)

    def __hash__(self) -> int:
        return hash(tzlocal)

    def __repr__(self) -> str:
        return "tzlocal()"


_EPOCH = datetime(1970, 1, 1)


def _ensure_tzinfo(dt: datetime, stacklevel: int = 4) -> datetime:
    """Attach the local timezone to a naive datetime, warning that this is deprecated."""
    if not dt.tzinfo:
        warnings.warn(_NAIVE_WARNING % dt, DeprecationWarning, stacklevel=stacklevel)
        dt = dt.replace(tzinfo=tzlocal())
    return dt


if sys.version_info >= (3, 11):
    _fromiso = datetime.fromisoformat
else:  # pragma: no cover - 3.10 only: fromisoformat lacks "Z", short fractions, "+HHMM"

    def _fromiso(s: str) -> datetime:
        m = ISO8601_PAT.match(s)
        if m is None:
            raise ValueError(f"Invalid isoformat string: {s!r}")
        base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        frac = m.group(2)
        if frac:
            base = base.replace(microsecond=int(frac[1:].ljust(6, "0")))
        tz = m.group(3)
        if tz == "Z":
            return base.replace(tzinfo=timezone.utc)
        if tz:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            return base.replace(tzinfo=timezone(sign * off))
        return base


def _parse_matched(s: str) -> datetime:
    """Parse a string already known to match ISO8601_PAT.

    ``fromisoformat`` rejects hour 24, which dateutil accepts as midnight of the next day.
    """
    try:
        dt = _fromiso(s)
    except ValueError:
        if s[11:13] == "24" and s[14:16] == "00" and s[17:19] == "00":
            dt = _fromiso(s[:11] + "00" + s[13:]) + timedelta(days=1)
            if dt.microsecond:
                raise
        else:
            raise
    return dt


def parse_date(s: str | None) -> str | datetime | None:
    """Return a datetime for an ISO 8601 timestamp string, anything else unchanged."""
    if s is None:
        return s
    if ISO8601_PAT.match(s):
        return _ensure_tzinfo(_parse_matched(s))
    return s


def extract_dates(obj: Any) -> Any:
    """Recursively replace ISO 8601 strings by datetimes; containers are copied, not mutated."""
    if isinstance(obj, dict):
        return {k: extract_dates(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [extract_dates(o) for o in obj]
    if isinstance(obj, str):
        return parse_date(obj)
    return obj


_date_cache: dict[str, datetime] = {}
_DATE_CACHE_MAX = 4096


def _header_dates(d: dict[str, Any]) -> dict[str, Any]:
    """Replace ISO 8601 strings in a freshly decoded header by datetimes, in place.

    The Session core's fast path for message headers and parent headers. Same result as
    :func:`extract_dates` (every matching string, at any depth). A string can only match
    ``ISO8601_PAT`` if it has 19..32 characters, ``-`` at 4 and ``T`` at 10, so everything else
    skips the regex. Aware results are memoised (datetimes are immutable; the parent header
    repeats on every IOPub reply).
    """
    for k, v in d.items():
        if type(v) is str:
            if 19 <= len(v) <= 32 and v[10] == "T" and v[4] == "-":
                dt = _date_cache.get(v)
                if dt is None:
                    if ISO8601_PAT.match(v) is None:
                        continue
                    dt = _parse_matched(v)
                    if dt.tzinfo is None:
                        d[k] = _ensure_tzinfo(dt, stacklevel=5)
                        continue
                    if len(_date_cache) >= _DATE_CACHE_MAX:
                        _date_cache.clear()
                    _date_cache[v] = dt
                d[k] = dt
        elif isinstance(v, (dict, list, tuple)):
            d[k] = extract_dates(v)
    return d


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _parent_dates(d: dict[str, Any]) -> bool:
    """:func:`_header_dates` for a parent header; True when the result may be shared.

    Same conversion, in place. The result may be shared (the caller caches a copy by the raw
    frame: every reply to one request repeats its parent header) when it holds only scalars
    and memoised aware datetimes: no containers (a shallow copy would share them) and no
    naive timestamp (each parse must warn).
    """
    shareable = True
    for k, v in d.items():
        t = type(v)
        if t is str:
            if 19 <= len(v) <= 32 and v[10] == "T" and v[4] == "-":
                dt = _date_cache.get(v)
                if dt is None:
                    if ISO8601_PAT.match(v) is None:
                        continue
                    dt = _parse_matched(v)
                    if dt.tzinfo is None:
                        d[k] = _ensure_tzinfo(dt, stacklevel=5)
                        shareable = False
                        continue
                    if len(_date_cache) >= _DATE_CACHE_MAX:
                        _date_cache.clear()
                    _date_cache[v] = dt
                d[k] = dt
        elif t not in _SCALARS:
            shareable = False
            if isinstance(v, (dict, list, tuple)):
                d[k] = extract_dates(v)
    return shareable


def squash_dates(obj: Any) -> Any:
    """Recursively replace datetimes by their ``isoformat()`` strings (copying containers)."""
    if isinstance(obj, dict):
        return {k: squash_dates(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [squash_dates(o) for o in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def json_default(obj: Any) -> Any:
    """``default=`` hook for JSON encoders: datetimes, dates, bytes, iterables and numbers."""
    if isinstance(obj, datetime):
        return _ensure_tzinfo(obj, stacklevel=5).isoformat().replace("+00:00", "Z")
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return b2a_base64(obj, newline=False).decode("ascii")
    if isinstance(obj, Iterable):
        return list(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    raise TypeError(f"{obj!r} is not JSON serializable")


def date_default(obj: Any) -> Any:
    """Deprecated alias of :func:`json_default` (warns, as upstream does since 7.0)."""
    warnings.warn(
        "date_default is deprecated since jupyter_client 7.0.0."
        " Use jupyter_client.jsonutil.json_default.",
        stacklevel=2,
    )
    return json_default(obj)


def json_clean(obj: Any) -> Any:
    """Return a JSON-safe copy of ``obj`` (the legacy fallback used when packing fails).

    Non-finite floats become their repr strings, containers become lists, dict keys become
    strings (refusing collisions that would drop values), bytes become base64.
    """
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        if math.isnan(obj) or math.isinf(obj):
            return repr(obj)
        return float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bytes):
        return b2a_base64(obj, newline=False).decode("ascii")
    if isinstance(obj, (tuple, set, types.GeneratorType)) or (
        hasattr(obj, "__iter__") and hasattr(obj, next_attr_name)
    ):
        obj = list(obj)
    if isinstance(obj, list):
        return [json_clean(x) for x in obj]
    if isinstance(obj, dict):
        if len(obj) != len(set(map(str, obj))):
            raise ValueError(
                "dict cannot be safely converted to JSON: "
                "key collision would lead to dropped values"
            )
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (datetime, date)):
        return obj.strftime(ISO8601)
    raise ValueError(f"Can't clean for JSON: {obj!r}")


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
