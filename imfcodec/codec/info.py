"""What `imfcodec info` reports about an .imf file (torch-free)."""

from __future__ import annotations

from typing import Any

from imfcodec.bitstream.container import CHUNK_OVERHEAD, ImfFile
from imfcodec.bitstream.header import NO_KEYFRAME

from ..rate import kbps


def group_rows(group_starts: list[int], keyframe_codec: str) -> list[tuple[str, str]]:
    """The words for groups and keyframes, shared by `encode`'s summary and `info`: a group
    starts at each of `group_starts`; it carries a keyframe picture unless the codec is none."""
    shown = f"{group_starts[:12]}{' …' if len(group_starts) > 12 else ''}"
    pictures = 0 if keyframe_codec == NO_KEYFRAME else len(group_starts)
    return [("groups", f"{len(group_starts)} starting at frames {shown}"), ("keyframes", f"{pictures} ({keyframe_codec})")]


def describe(imf: ImfFile) -> dict[str, Any]:
    """Header fields, timing, keyframes, and bytes and kbps per part of the file."""
    h = imf.header
    fps = h["fps_num"] / h["fps_den"]
    frames = imf.frame_count
    seconds = frames / fps if fps else 0.0  # for the duration shown; rates come from imfcodec.rate
    key_bytes, token_bytes, base_bytes = imf.groups.part_bytes()
    # Audio is reported on its own, framing included, so the video rate excludes all of it.
    audio_bytes = sum(CHUNK_OVERHEAD + c.length for c in imf.chunks if c.type in ("AUDH", "AUDP"))
    overhead = imf.file_size - key_bytes - base_bytes - token_bytes - audio_bytes

    def rate(n: int) -> float:
        return round(kbps(n, frames, fps), 3)

    return {
        "version": f"{imf.version[0]}.{imf.version[1]}",
        "model_id": h.get("model_id"),
        "preset": h.get("preset"),
        "token_dim": h.get("token_dim"),
        "size": h.get("size"),
        "quality": h.get("quality"),
        "token_step": h.get("token_step"),
        "keyframe_codec": h.get("keyframe_codec"),
        "base_layer": None
        if h.get("base_size") is None
        else f"{h['base_size']}² AV1, crf {'per group' if h.get('base_crf') is None else h['base_crf']}, "
        f"{'low delay' if h.get('base_low_delay') else 'random access'}"
        + ("" if h.get("base_step", 1) == 1 else f", every {h['base_step']} frames ({h.get('base_fill', 'repeat')} between)"),
        "source": f"{h.get('source_width')}x{h.get('source_height')}",
        "crop": h.get("crop"),
        "crop_box": h.get("crop_box"),
        "fps": f"{h['fps_num']}/{h['fps_den']}",
        "frames": frames,
        "duration_s": round(seconds, 3),
        "groups": len(imf.groups),
        "group_starts": imf.groups.first_frames(),
        # a 1.2 hybrid file without keyframe pictures has groups but no keyframes
        "keyframes": 0 if h.get("keyframe_codec") == NO_KEYFRAME else len(imf.groups),
        "audio": None if imf.audio_header is None else {k: v for k, v in imf.audio_header.items() if k != "extradata"},
        "bytes": {
            "total": imf.file_size,
            "keyframes": key_bytes,
            "base": base_bytes,
            "tokens": token_bytes,
            "audio": audio_bytes,
            "overhead": overhead,
        },
        "kbps": {
            "total": rate(imf.file_size),
            "video": rate(imf.file_size - audio_bytes),
            "keyframes": rate(key_bytes),
            "base": rate(base_bytes),
            "tokens": rate(token_bytes),
            "audio": rate(audio_bytes),
            "overhead": rate(overhead),
        },
        "token_bits_per_frame": round(8 * token_bytes / max(1, frames - len(imf.groups)), 2),
        "chunk_overhead_bytes": CHUNK_OVERHEAD,
    }
