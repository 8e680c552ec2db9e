"""jsonutil: upstream semantics without dateutil."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_client import jsonutil as ju
from jupyter_client.protocol.session import _header_dates


def test_parse_date_forms() -> None:
    assert ju.parse_date(None) is None
    assert ju.parse_date("2024-01-02") == "2024-01-02"  # bare date does not match
    assert ju.parse_date("nope") == "nope"
    d = ju.parse_date("2024-01-02T03:04:05.1Z")
    assert d == datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=timezone.utc)
    d = ju.parse_date("2024-01-02T03:04:05-0130")
    assert isinstance(d, datetime) and d.utcoffset() == -timedelta(hours=1, minutes=30)
    assert ju.parse_date("2024-01-02T24:00:00Z") == datetime(2024, 1, 3, tzinfo=timezone.utc)
    assert ju.parse_date("2024-01-02T03:04:05.1234567Z") == "2024-01-02T03:04:05.1234567Z"
    with pytest.warns(DeprecationWarning, match="naive"):
        naive = ju.parse_date("2024-01-02T03:04:05")
    assert isinstance(naive, datetime) and naive.tzinfo is not None


def test_extract_and_squash() -> None:
    obj = {"a": ["2024-01-02T03:04:05Z", ("x",)], "b": {"c": "2024-01-02T03:04:05+01:00"}}
    out = ju.extract_dates(obj)
    assert obj["a"][0] == "2024-01-02T03:04:05Z"  # not clobbered
    assert isinstance(out["a"][0], datetime) and out["a"][1] == ["x"]
    sq = ju.squash_dates(out)
    assert sq["a"][0] == "2024-01-02T03:04:05+00:00" and sq["b"]["c"].endswith("+01:00")


def test_json_default_and_clean() -> None:
    utc = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert ju.json_default(utc) == "2024-01-02T03:04:05Z"
    assert ju.json_default(date(2024, 1, 2)) == "2024-01-02"
    assert ju.json_default(b"\x00\xff") == "AP8="
    assert ju.json_default({1, 2}) == [1, 2]
    with pytest.raises(TypeError, match="not JSON serializable"):
        ju.json_default(object())
    with pytest.warns(UserWarning):
        ju.date_default(utc)
    assert ju.json_clean(float("nan")) == "nan" and ju.json_clean(float("-inf")) == "-inf"
    assert ju.json_clean({1: (1, 2)}) == {"1": [1, 2]}
    assert ju.json_clean(utc) == "2024-01-02T03:04:05.000000"
    with pytest.raises(ValueError, match="key collision"):
        ju.json_clean({1: 1, "1": 2})
    with pytest.raises(ValueError, match="Can't clean"):
        ju.json_clean(object())
    assert ju.next_attr_name == "__next__" and ju.ISO8601 == "%Y-%m-%dT%H:%M:%S.%f"


timestamps = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)


@given(timestamps, st.booleans(), st.booleans())
def test_date_roundtrip_and_fast_header_path(dt: datetime, z: bool, micro: bool) -> None:
    """Our header fast path agrees with extract_dates on every format the pattern admits."""
    if not micro:
        dt = dt.replace(microsecond=0)
    text = dt.isoformat()
    if z and dt.utcoffset() == timedelta(0):
        text = text.replace("+00:00", "Z")
    header = {"date": text, "msg_id": "x" * 40, "n": 1, "other": text, "list": [text]}
    expected = ju.extract_dates(header)
    assert _header_dates(dict(header)) == expected
    assert expected["date"] == dt


@given(st.text(max_size=40))
def test_header_path_matches_extract_dates_on_any_text(s: str) -> None:
    try:
        expected = ju.extract_dates({"k": s})
    except ValueError:
        with pytest.raises(ValueError):
            _header_dates({"k": s})
        return
    assert _header_dates({"k": s}) == expected


def test_nan_clean_is_not_finite() -> None:
    assert not math.isfinite(float(ju.json_clean(float("inf"))))
