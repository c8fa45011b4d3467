"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option: the operating point where the
# hybrid is furthest ahead of the low-res anchor's front on the dev clips (docs/BENCHMARKS.md).
DEFAULT_BITRATE_KBPS = 8.0
