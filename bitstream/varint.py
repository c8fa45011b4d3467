"""LEB128 unsigned varints: small numbers in one byte, so per-frame overhead stays tiny."""

from __future__ import annotations

from ..errors import ImfcodecError


class VarintError(ImfcodecError, ValueError):
    """A varint that runs past its chunk or cannot be written."""


def encode_varint(value: int) -> bytes:
    if value < 0:
        raise VarintError(f"varint must be non-negative, got {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Read one varint at `pos`; returns (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(data):
            raise VarintError("varint runs past the end of its chunk")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise VarintError("varint longer than 64 bits")
