"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option: the operating point where the
# hybrid is furthest ahead of the low-res anchor's random-access front on the dev clips
# (docs/BENCHMARKS.md, --bitrate 3..10: +2.05 dB at 3.9 kbps; +1.13 at 4.9, +0.83 at 5.9,
# +0.01 at 7.9, +0.31 at 9.8; 3 kbps is below the front's lowest point).
DEFAULT_BITRATE_KBPS = 4.0

# `imfcodec encode` in the token mode with no rate option (docs/BENCHMARKS.md, the token
# mode's rate table): one keyframe every few seconds at a usable quality.
DEFAULT_TOKEN_BITRATE_KBPS = 2.0
