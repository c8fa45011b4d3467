"""The HEAD chunk's fields: readable names in code, short keys on the wire.

At 2–5 kbps a 10-second file is 2.5–6 KB, so a verbose header would be a visible part
of the rate. The mapping below is part of the format (docs/FORMAT.md).
"""

from __future__ import annotations

from typing import Any

import msgpack

# readable name -> wire key
FIELDS: dict[str, str] = {
    "model_id": "m",  # 32 raw bytes on the wire, hex in code
    "preset": "p",
    "token_dim": "d",
    "size": "s",
    "quality": "q",
    "token_step": "ts",
    "table_index": "ti",
    "keyframe_codec": "k",
    "source_width": "w",
    "source_height": "h",
    "crop": "c",
    "crop_box": "cb",
    "fps_num": "fn",
    "fps_den": "fd",
    "max_keyframe_interval": "ki",
    "refresh_psnr": "rp",
    "audio_codec": "a",
    "base_size": "b",  # 1.1: hybrid files
    "base_crf": "bc",
    "base_low_delay": "bl",
    "base_step": "bp",
    "base_fill": "bf",
}
_BY_WIRE = {v: k for k, v in FIELDS.items()}


def pack_header(header: dict[str, Any]) -> bytes:
    unknown = set(header) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown header fields: {sorted(unknown)}")
    wire = {FIELDS[k]: v for k, v in header.items()}
    if "m" in wire:
        wire["m"] = bytes.fromhex(wire["m"])
    return msgpack.packb(wire, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_header(data: bytes) -> dict[str, Any]:
    wire = msgpack.unpackb(data, raw=False)
    if not isinstance(wire, dict):
        raise ValueError("header is not a map")
    # Keys from a newer minor version are kept under their wire names.
    header: dict[str, Any] = {_BY_WIRE.get(str(k), str(k)): v for k, v in wire.items()}
    if isinstance(header.get("model_id"), bytes):
        header["model_id"] = header["model_id"].hex()
    return header


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and v == v  # not NaN


# HEAD `k` of a hybrid file whose groups carry no keyframe picture (1.2): each group's
# reference is its first base picture, upscaled (docs/FORMAT.md).
NO_KEYFRAME = "none"

MAX_SIZE = 4096  # pixels per side: a header asking for more is not a file this codec wrote

# readable name -> (check, what it must be). Fields not listed are informative.
_CHECKS: dict[str, tuple[Any, str]] = {
    "model_id": (lambda v: isinstance(v, str) and len(v) == 64, "a 32-byte id"),
    "size": (lambda v: _is_int(v) and 32 <= v <= MAX_SIZE and v % 32 == 0, f"a multiple of 32 up to {MAX_SIZE}"),
    "fps_num": (lambda v: _is_int(v) and 0 < v < 2**31, "a positive integer"),
    "fps_den": (lambda v: _is_int(v) and 0 < v < 2**31, "a positive integer"),
    "token_dim": (lambda v: _is_int(v) and 0 < v <= 4096, "a positive integer"),
    "quality": (lambda v: _is_int(v) and 0 < v < 256, "a positive integer"),
    "table_index": (lambda v: _is_int(v) and 0 <= v < 256, "a small non-negative integer"),
    "token_step": (lambda v: v is None or (_is_number(v) and 0 < v < 1e6), "a positive number or nil"),
    "keyframe_codec": (lambda v: isinstance(v, str), "a codec name"),
    "base_size": (lambda v: _is_int(v) and 0 < v <= MAX_SIZE, "a positive integer"),
    "base_step": (lambda v: _is_int(v) and 1 <= v <= 8, "1 to 8"),
    "base_fill": (lambda v: v in ("repeat", "linear", "motion", "timed"), "repeat, linear, motion or timed"),
    "audio_codec": (lambda v: v is None or isinstance(v, str), "a codec name or nil"),
}
REQUIRED = ("model_id", "size", "fps_num", "fps_den", "keyframe_codec")


def validate_header(header: dict[str, Any]) -> None:
    """Raise ValueError naming the first HEAD field that is missing or not what it must be,
    before anything is allocated or looped over because of it."""
    for name in REQUIRED:
        if name not in header:
            raise ValueError(f"HEAD has no {name!r} ({FIELDS[name]})")
    for name, (check, what) in _CHECKS.items():
        if name in header and not check(header[name]):
            raise ValueError(f"HEAD field {name!r} ({FIELDS[name]}) is {header[name]!r}, not {what}")
    if header["keyframe_codec"] == NO_KEYFRAME and "base_size" not in header:
        raise ValueError(f"HEAD field 'keyframe_codec' ({FIELDS['keyframe_codec']}) is {NO_KEYFRAME!r} in a file without a base layer")
