"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option. Measured like for like
# (docs/BENCHMARKS.md, "imf-hybrid-v4, the default", six dev clips): against SVT-AV1 coding
# the same kinds of layer (motion-filled ones included), imf-hybrid-v4's mean distance at
# the same rate is -0.23 dB / +0.6 VMAF at 3 kbps, +0.11 / +3.6 at 4, +0.14 / +3.2 at 5,
# +0.34 / +4.3 at 8. 4 kbps is the lowest rate where it leads the front in both (30.3 dB,
# VMAF 54.1 on the mean). (imf-hybrid-v1, the default before, chose it too: the lowest
# rate within 0.2 dB of the front, -0.16 dB there.)
DEFAULT_BITRATE_KBPS = 4.0

# `imfcodec encode` in the token mode with no rate option (docs/BENCHMARKS.md, the token
# mode's rate table): one keyframe every few seconds at a usable quality.
DEFAULT_TOKEN_BITRATE_KBPS = 2.0
