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
