"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option: the operating point where the
# hybrid is furthest ahead of the low-res anchor's random-access front on the dev clips
# (docs/BENCHMARKS.md: 96² base at every second frame, groups without a keyframe picture,
# +0.30 dB at 6.3 kbps; −0.19 to +0.07 dB at its other 96² points, −0.5 to −0.8 at 64²).
DEFAULT_BITRATE_KBPS = 6.0
