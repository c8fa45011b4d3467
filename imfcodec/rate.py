"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option. Measured like for like
# (docs/BENCHMARKS.md, six dev clips): no rate of 3-8 kbps puts imf-hybrid-v1 ahead of
# SVT-AV1 coding the same kind of layer (BD-PSNR -0.45 dB); 4 kbps stays the default as
# the lowest rate whose picture is usable (29.7 dB, VMAF 48.5 on the mean; at 3 kbps,
# 28.0 dB and VMAF 30.9) until a model that leads the front sets it by measurement.
DEFAULT_BITRATE_KBPS = 4.0

# `imfcodec encode` in the token mode with no rate option (docs/BENCHMARKS.md, the token
# mode's rate table): one keyframe every few seconds at a usable quality.
DEFAULT_TOKEN_BITRATE_KBPS = 2.0
