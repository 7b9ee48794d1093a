"""Raw request bytes that no protobuf library would produce, written straight in the
wire format: random bytes, truncated and corrupted valid messages, invalid UTF-8 in
string fields (top level and nested), wrong wire types, out-of-range and overlong
varints, lengths past the end, unknown and invalid field numbers, deep group nesting.

They are sent with an identity serializer, so the bytes reach the gateway and the
service exactly as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

from fuzz.choose import Chooser, weighted
from fuzz.generate import FD, field_paths, is_repeated

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
MAX_FIELD_NUMBER: Final = (1 << 29) - 1

# Byte strings that are not UTF-8: a stray continuation byte, an overlong NUL, an encoded
# surrogate, a code point above U+10FFFF, a truncated CJK character, 0xFF.
INVALID_UTF8: Final = (b"\xff", b"\x80", b"abc\x80def", b"\xc0\x80", b"\xed\xa0\x80",
                       b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xe4\xb8", b"\xfe\xff",
                       b"\xf8\x88\x80\x80\x80", "一次性".encode()[:-1] + b"ok")


def varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as their 64-bit two's complement, as protobuf
    encodes int32 and int64."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def delimited(number: int, payload: bytes) -> bytes:
    return tag(number, LENGTH) + varint(len(payload)) + payload


def _string_paths(descriptor: pb_descriptor.Descriptor) -> list[tuple[FD, ...]]:
    return [path for path in field_paths(descriptor, 3) if path[-1].type == FD.TYPE_STRING]


def _nest(path: Sequence[FD], leaf: bytes) -> bytes:
    """``leaf`` (an encoded field of the innermost message) wrapped in the enclosing
    message fields of ``path``: parsing merges it into the message at that path."""
    payload = leaf
    for fd in reversed(path):
        payload = delimited(fd.number, payload)
    return payload


def raw_payload(descriptor: pb_descriptor.Descriptor, seeds: Sequence[pb_message.Message],
                chooser: Chooser) -> tuple[bytes, str]:
    """One raw request for a method whose input is ``descriptor``; and how it was made."""
    valid = chooser.pick(seeds).SerializeToString() if seeds else b""
    makers: list[tuple[float, Callable[[], tuple[bytes, str]]]] = [
        (2.0, lambda: _random(chooser)),
        (2.0, lambda: _truncated(valid, chooser)),
        (1.0, lambda: _flipped(valid, chooser)),
        (1.0, lambda: (valid + chooser.blob(chooser.pick((1, 2, 7, 64))), "valid + junk")),
        (3.0, lambda: _invalid_utf8(descriptor, valid, chooser)),
        (2.0, lambda: _wrong_wire_type(descriptor, valid, chooser)),
        (1.0, lambda: _bad_varint(descriptor, valid, chooser)),
        (1.0, lambda: _bad_length(descriptor, valid, chooser)),
        (1.0, lambda: _unknown_field(valid, chooser)),
        (0.5, lambda: _groups(valid, chooser)),
        (0.5, lambda: _packed_garbage(descriptor, valid, chooser)),
        (0.3, lambda: (b"", "empty message")),
    ]
    return weighted(chooser, makers)()


def _random(chooser: Chooser) -> tuple[bytes, str]:
    size = chooser.pick((1, 2, 3, 8, 64, 1000, 10_000))
    return chooser.blob(size), f"{size} random bytes"


def _truncated(valid: bytes, chooser: Chooser) -> tuple[bytes, str]:
    if len(valid) < 2:
        return _random(chooser)
    cut = chooser.integer(1, len(valid) - 1)
    return valid[:cut], f"valid message cut at byte {cut} of {len(valid)}"


def _flipped(valid: bytes, chooser: Chooser) -> tuple[bytes, str]:
    if not valid:
        return _random(chooser)
    data = bytearray(valid)
    flips = chooser.pick((1, 2, 8))
    for _ in range(flips):
        data[chooser.integer(0, len(data) - 1)] ^= 1 << chooser.integer(0, 7)
    return bytes(data), f"valid message with {flips} bit flips"


def _invalid_utf8(descriptor: pb_descriptor.Descriptor, valid: bytes,
                  chooser: Chooser) -> tuple[bytes, str]:
    paths = _string_paths(descriptor)
    if not paths:
        return _random(chooser)
    path = chooser.pick(paths)
    bad = chooser.pick(INVALID_UTF8)
    leaf = delimited(path[-1].number, bad)
    label = ".".join(fd.name for fd in path)
    return valid + _nest(path[:-1], leaf), f"invalid UTF-8 {bad!r} in {label}"


def _wrong_wire_type(descriptor: pb_descriptor.Descriptor, valid: bytes,
                     chooser: Chooser) -> tuple[bytes, str]:
    fields = list(descriptor.fields)
    if not fields:
        return _unknown_field(valid, chooser)
    fd = chooser.pick(fields)
    wire = chooser.pick((VARINT, FIXED64, LENGTH, FIXED32))
    body = {VARINT: varint(chooser.pick((0, 1, 2**31, 2**63, 2**64 - 1))),
            FIXED64: chooser.blob(8), LENGTH: varint(3) + b"abc", FIXED32: chooser.blob(4)}[wire]
    return valid + tag(fd.number, wire) + body, f"{fd.name} as wire type {wire}"


def _bad_varint(descriptor: pb_descriptor.Descriptor, valid: bytes,
                chooser: Chooser) -> tuple[bytes, str]:
    numeric = [fd for fd in descriptor.fields
               if fd.type not in (FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE)]
    number = chooser.pick(numeric).number if numeric else 1
    kind = chooser.pick(("overlong", "unterminated", "2^64", "int32 overflow"))
    body = {"overlong": b"\xff" * 10 + b"\x01", "unterminated": b"\xff\xff\xff",
            "2^64": varint(2**64 - 1), "int32 overflow": varint(2**40)}[kind]
    return valid + tag(number, VARINT) + body, f"{kind} varint in field {number}"


def _bad_length(descriptor: pb_descriptor.Descriptor, valid: bytes,
                chooser: Chooser) -> tuple[bytes, str]:
    delimited_fields = [fd for fd in descriptor.fields
                        if fd.type in (FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE)]
    number = chooser.pick(delimited_fields).number if delimited_fields else 1
    claimed = chooser.pick((5, 1000, 2**31 - 1, 2**32, 2**63))
    return (valid + tag(number, LENGTH) + varint(claimed) + b"ab",
            f"field {number} claims {claimed} bytes, has 2")


def _unknown_field(valid: bytes, chooser: Chooser) -> tuple[bytes, str]:
    number = chooser.pick((0, 15, 1000, 18_999, 19_000, 19_999, MAX_FIELD_NUMBER,
                           MAX_FIELD_NUMBER + 1))
    wire = chooser.pick((VARINT, FIXED64, LENGTH, FIXED32, 6, 7))
    body = {VARINT: varint(1), FIXED64: bytes(8), LENGTH: varint(4) + b"\x00\x01\x02\x03",
            FIXED32: bytes(4)}.get(wire, b"")
    return valid + tag(number, wire) + body, f"unknown field {number} wire type {wire}"


def _groups(valid: bytes, chooser: Chooser) -> tuple[bytes, str]:
    depth = chooser.pick((1, 99, 101, 1000, 20_000))
    kind = chooser.pick(("nested", "unclosed", "stray end"))
    number = 7_777
    if kind == "stray end":
        return valid + tag(number, END_GROUP), "end-group tag without a start"
    opening = tag(number, START_GROUP) * depth
    closing = b"" if kind == "unclosed" else tag(number, END_GROUP) * depth
    return valid + opening + closing, f"{kind} groups {depth} deep in unknown field {number}"


def _packed_garbage(descriptor: pb_descriptor.Descriptor, valid: bytes,
                    chooser: Chooser) -> tuple[bytes, str]:
    packable = [fd for fd in descriptor.fields if is_repeated(fd)
                and fd.type not in (FD.TYPE_STRING, FD.TYPE_BYTES, FD.TYPE_MESSAGE)]
    if not packable:
        return _bad_varint(descriptor, valid, chooser)
    fd = chooser.pick(packable)
    body = chooser.pick((b"\xff", b"\xff" * 11, varint(99) + varint(2**63), b"\x01\x02\x80"))
    return valid + delimited(fd.number, body), f"packed {fd.name} holding {body!r}"
