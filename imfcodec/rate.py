"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option. Measured like for like
# (docs/BENCHMARKS.md, "the fair front", six dev clips): against SVT-AV1 coding the same
# kinds of layer (motion-filled ones included), imf-hybrid-v1's mean distance at the same
# rate is -0.41 dB / +0.9 VMAF at 3 kbps, -0.16 / +4.1 at 4, -0.19 / +3.7 at 5, -0.11 / +5.1
# at 8: behind in PSNR everywhere, furthest at 3 kbps. 4 kbps is the lowest rate within
# 0.2 dB of the front with a VMAF lead of 4 points (30.0 dB, VMAF 54.5 on the mean).
DEFAULT_BITRATE_KBPS = 4.0

# `imfcodec encode` in the token mode with no rate option (docs/BENCHMARKS.md, the token
# mode's rate table): one keyframe every few seconds at a usable quality.
DEFAULT_TOKEN_BITRATE_KBPS = 2.0
