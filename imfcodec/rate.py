"""Bit rates, in one place: kilobits (1000 bits) per second of video."""

from __future__ import annotations


def kbps(nbytes: int, frames: int, fps: float) -> float:
    """The rate of `nbytes` spread over `frames` frames at `fps`: 8 × bytes / seconds / 1000."""
    return 8.0 * nbytes * fps / frames / 1000.0 if frames > 0 and fps > 0 else 0.0


# `imfcodec encode` with a hybrid model and no rate option. Measured like for like
# (docs/BENCHMARKS.md, "The layer at 128²", six dev clips): over 3-8 kbps imf-hybrid-v1 is
# level with SVT-AV1 coding the same kind of layer in PSNR (BD -0.04 dB) and ahead in VMAF
# (+4.7), against a front still without motion-filled layers (so the fair BD is lower). 4 kbps stays the default (30.0 dB, VMAF 54.5 on the mean; at 3 kbps 28.9 dB and
# VMAF 44.1): not re-chosen per rate against the front yet.
DEFAULT_BITRATE_KBPS = 4.0

# `imfcodec encode` in the token mode with no rate option (docs/BENCHMARKS.md, the token
# mode's rate table): one keyframe every few seconds at a usable quality.
DEFAULT_TOKEN_BITRATE_KBPS = 2.0
