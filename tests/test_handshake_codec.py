"""The handshake codec (``protocol/handshake.py``): round trips, validation messages, and
hypothesis fuzzing (anything malformed is a :class:`HandshakeError`, never another exception)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_client.protocol.handshake import (
    DELIM,
    MAX_CONTENT,
    REGISTRATION_PORTS,
    HandshakeError,
    Registration,
    RegistrationCodec,
    RegistrationFile,
    parse_registration_file,
    supports_handshake,
)

ports_st = st.lists(st.integers(1, 65535), min_size=5, max_size=5, unique=True).map(
    lambda ps: dict(zip(REGISTRATION_PORTS, ps, strict=True))
)
keys = st.binary(min_size=0, max_size=64).filter(lambda k: b"\x00" not in k) | st.text(
    st.characters(min_codepoint=33, max_codepoint=126), max_size=40
)
kernel_ids = st.text(min_size=1, max_size=40)
schemes = st.sampled_from(["hmac-sha256", "hmac-sha512", "hmac-md5", "hmac-sha1"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.floats(allow_nan=False),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=10,
)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("5.6", True), ("5.10", True), ("6", True), ("6.0.1", True), (" 5.6 ", True),
     ("5.5", False), ("5.4", False), ("4", False), ("", False), (None, False),
     ("five", False), ("5.x", False)],
)  # fmt: skip
def test_supports_handshake(version: str | None, expected: bool) -> None:
    assert supports_handshake(version) is expected


@settings(max_examples=150, deadline=None)
@given(ports=ports_st, key=keys, kernel_id=kernel_ids, scheme=schemes,
       idents=st.lists(st.binary(min_size=1, max_size=8), max_size=3))  # fmt: skip
def test_registration_round_trip(
    ports: dict[str, int], key: Any, kernel_id: str, scheme: str, idents: list[bytes]
) -> None:
    kernel = RegistrationCodec(key, scheme, kernel_id)
    launcher = RegistrationCodec(key, scheme, kernel_id)
    frames = kernel.encode_registration(ports)
    assert frames[0] == DELIM
    reg = launcher.decode_registration([*idents, *frames])  # as a ROUTER sees it
    assert dict(reg.ports) == ports and reg.kernel_id == kernel_id
    assert reg.idents == tuple(idents)
    reply = launcher.encode_reply(reg)
    assert reply[: len(idents)] == idents  # routed back to the sender
    assert kernel.decode_reply(reply[len(idents) :]) == {"status": "ok", "kernel_id": kernel_id}


@settings(max_examples=100, deadline=None)
@given(ports=ports_st, key=st.binary(min_size=1, max_size=32), flip=st.integers(0, 10_000))
def test_any_altered_byte_is_rejected(ports: dict[str, int], key: bytes, flip: int) -> None:
    codec = RegistrationCodec(key, "hmac-sha256", "k")
    frames = codec.encode_registration(ports)
    body = bytearray(frames[2])
    body[flip % len(body)] ^= 0x01
    with pytest.raises(HandshakeError, match="bad signature"):
        codec.decode_registration([frames[0], frames[1], bytes(body)])


@settings(max_examples=300, deadline=None)
@given(frames=st.lists(st.binary(max_size=40) | st.just(DELIM), max_size=6))
def test_fuzzed_frames_only_raise_handshake_error(frames: list[bytes]) -> None:
    for key in (b"", b"key"):
        codec = RegistrationCodec(key, "hmac-sha256", "k")
        for decode in (codec.decode_registration, codec.decode_reply):
            try:
                decode(frames)
            except HandshakeError:
                pass


@settings(max_examples=300, deadline=None)
@given(content=st.dictionaries(
    st.sampled_from([*REGISTRATION_PORTS, "kernel_id", "status", "x"]), json_values, max_size=7
) | json_values)  # fmt: skip
def test_fuzzed_signed_content_only_raises_handshake_error(content: Any) -> None:
    """Correctly signed but arbitrary JSON: validation, not signing, must catch it."""
    codec = RegistrationCodec(b"key", "hmac-sha256", "k")
    body = json.dumps(content).encode()
    frames = [DELIM, codec.sign(body), body]
    try:
        reg = codec.decode_registration(frames)
    except HandshakeError:
        pass
    else:
        assert isinstance(reg, Registration) and reg.kernel_id == "k"
        assert all(1 <= p <= 65535 for p in reg.ports.values())
    try:
        codec.decode_reply(frames)
    except HandshakeError:
        pass


def _signed(codec: RegistrationCodec, content: Any) -> list[bytes]:
    body = json.dumps(content).encode()
    return [DELIM, codec.sign(body), body]


GOOD = {"kernel_id": "k", **dict(zip(REGISTRATION_PORTS, range(50001, 50006), strict=True))}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({**GOOD, "kernel_id": "other"}, "for kernel 'other', expected 'k'"),
        ({k: v for k, v in GOOD.items() if k != "kernel_id"}, "'kernel_id' is missing"),
        ({k: v for k, v in GOOD.items() if k != "hb_port"}, "'hb_port' is missing"),
        ({**GOOD, "shell_port": 0}, "'shell_port': port 0 is outside"),
        ({**GOOD, "shell_port": 70000}, "outside 1..65535"),
        ({**GOOD, "shell_port": True}, "expected a port number, got bool"),
        ({**GOOD, "shell_port": "²"}, "expected a port number, got str"),
        ({**GOOD, "shell_port": "1" * 5000}, "expected a port number"),
        ({**GOOD, "iopub_port": GOOD["shell_port"]}, "must be distinct"),
    ],
)
def test_invalid_registrations_name_the_problem(content: Any, message: str) -> None:
    codec = RegistrationCodec("key", "hmac-sha256", "k")
    with pytest.raises(HandshakeError, match=re.escape(message)):
        codec.decode_registration(_signed(codec, content))


def test_ports_as_decimal_strings_and_frame_errors() -> None:
    codec = RegistrationCodec("key", "hmac-sha256", "k")
    as_strings = {k: (str(v) if k != "kernel_id" else v) for k, v in GOOD.items()}
    assert codec.decode_registration(_signed(codec, as_strings)).ports["hb_port"] == 50005
    good = _signed(codec, GOOD)
    with pytest.raises(HandshakeError, match=re.escape("no <IDS|MSG> delimiter")):
        codec.decode_registration(good[1:])
    with pytest.raises(HandshakeError, match="got 4 frame"):
        codec.decode_registration([*good, b"{}", b"{}"])
    with pytest.raises(HandshakeError, match="unsigned"):
        codec.decode_registration([DELIM, b"", good[2]])
    with pytest.raises(HandshakeError, match="bad signature"):
        RegistrationCodec("other", "hmac-sha256", "k").decode_registration(good)
    big = b" " * (MAX_CONTENT + 1)
    with pytest.raises(HandshakeError, match="exceeds"):
        codec.decode_registration([DELIM, codec.sign(big), big])
    with pytest.raises(HandshakeError, match="not valid JSON"):
        codec.decode_registration([DELIM, codec.sign(b"{"), b"{"])
    unsigned = RegistrationCodec(b"", "hmac-sha256", "k")  # empty key: no signature, no check
    assert unsigned.decode_registration([DELIM, b"whatever", good[2]]).kernel_id == "k"
    with pytest.raises(HandshakeError, match="status 'error'"):
        codec.decode_reply(_signed(codec, {"status": "error"}))
    with pytest.raises(HandshakeError, match="unusable signature_scheme"):
        RegistrationCodec("key", "hmac-nope", "k")


# -- the registration file -------------------------------------------------------------------
files = st.builds(
    RegistrationFile,
    kernel_id=kernel_ids,
    registration_port=st.integers(1, 65535),
    key=st.text(max_size=40),
    registration_ip=st.sampled_from(["127.0.0.1", "::1", "10.0.0.5"]),
    signature_scheme=schemes,
    extra=st.dictionaries(
        st.sampled_from(["ip", "kernel_name", "curve_publickey"]), st.text(max_size=10), max_size=3
    ),
)


@settings(max_examples=150, deadline=None)
@given(reg=files)
def test_registration_file_round_trip(reg: RegistrationFile) -> None:
    parsed = parse_registration_file(reg.dumps())
    assert parsed == reg
    assert parse_registration_file(reg.to_dict()) == reg
    assert parsed.url == f"tcp://{reg.registration_ip}:{reg.registration_port}"


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(
    st.sampled_from(["kernel_id", "transport", "registration_ip", "registration_port",
                     "signature_scheme", "key", "ip"]),
    json_values, max_size=7,
) | json_values, as_text=st.booleans())  # fmt: skip
def test_fuzzed_registration_files_only_raise_handshake_error(doc: Any, as_text: bool) -> None:
    try:
        parse_registration_file(json.dumps(doc) if as_text else doc)
    except HandshakeError:
        pass


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=60))
def test_garbage_registration_file_bytes(data: bytes) -> None:
    try:
        parse_registration_file(data)
    except HandshakeError:
        pass


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transport": "ipc"}, "only tcp"),
        ({"registration_port": 0}, "outside 1..65535"),
        ({"registration_port": "x"}, "expected a port number"),
        ({"key": 5}, "field 'key': expected a string"),
        ({"signature_scheme": "sha256"}, "must start with 'hmac-'"),
    ],
)
def test_invalid_registration_files_name_the_problem(change: dict[str, Any], message: str) -> None:
    doc = RegistrationFile(kernel_id="k", registration_port=1234, key="s").to_dict()
    doc.update(change)
    with pytest.raises(HandshakeError, match=message):
        parse_registration_file(doc, "reg.json")
    del doc["kernel_id"]
    with pytest.raises(HandshakeError, match=re.escape("reg.json: field 'kernel_id' is missing")):
        parse_registration_file(doc, "reg.json")
