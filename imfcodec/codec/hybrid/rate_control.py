"""--bitrate for the hybrid mode, per group: each group's share of the target in bytes, and
its base layer's CRF (and keyframe picture's quality, if it has one) from a search over the
group's own frames, so every group, and the file, lands on its share of the bits. The
layer's shape is chosen once, before the first group, by first_pass.py."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

import numpy as np

from .base_layer import encode_base

KEYFRAME_SHARE = 0.35  # at most this share of a group's bits for its keyframe, where a lower quality allows
CRF_RANGE = (20, 63)  # SVT-AV1's useful CRFs at these sizes: below 20 the base costs more than the whole target
# Bytes the container adds, measured on hybrid files: 32 a group (its GRUP chunk's type,
# length, CRC and varints, and its index entry) and about 228 once a file (preamble,
# header, the index's framing, footer). Left out, a one-group 4-second clip at 3 kbps
# landed 17 % high.
GROUP_FRAMING_BYTES = 32
FILE_FRAMING_BYTES = 230


def group_budget(kbps: float, frames: int, fps: float, first: bool) -> float:
    """Bytes a keyframe group of `frames` frames may take at `kbps`, less its framing, and
    for the file's first group less the file's own."""
    return kbps * 1000 / 8 * frames / fps - GROUP_FRAMING_BYTES - (FILE_FRAMING_BYTES if first else 0)


def fit_base(low: np.ndarray, budget_bytes: float, low_delay: bool, floor: bytes | None = None) -> tuple[bytes, float]:
    """The base layer of `low` (T, B, B, 3) at the lowest CRF (best picture) whose bytes fit
    `budget_bytes`, by bisection over CRF_RANGE in whole steps and then quarter steps; at
    the highest CRF when none fits. `floor`: that layer at the highest CRF, if the caller has
    coded it. Returns (payload, CRF). The quarter steps: near CRF 60 one whole step is 10 %
    of a 128² layer's bytes, and a 4-second clip at 4 kbps landed 10 % under its target."""
    key = (hashlib.sha256(np.ascontiguousarray(low).tobytes()).digest(), low.shape, budget_bytes, low_delay)
    if key in _FITTED:  # the first pass fitted the first group's layer already: the same bytes
        return _FITTED[key]
    tried: dict[float, bytes] = {} if floor is None else {CRF_RANGE[1]: floor}

    def at(crf: float) -> bytes:
        if crf not in tried:
            tried[crf] = encode_base(low, crf, low_delay)
        return tried[crf]

    lo, hi = CRF_RANGE
    if len(at(hi)) > budget_bytes:
        return _remember(key, (at(hi), hi))
    while lo < hi:  # invariant: hi fits
        mid = (lo + hi) // 2
        if len(at(mid)) <= budget_bytes:
            hi = mid
        else:
            lo = mid + 1
    if hi == CRF_RANGE[0]:
        return _remember(key, (at(hi), hi))
    best: float = hi  # hi - 1 does not fit: bisect the quarter steps between
    low_q, high_q = 1, 3  # quarters below hi
    while low_q <= high_q:
        mid_q = (low_q + high_q) // 2
        if len(at(hi - mid_q / 4)) <= budget_bytes:
            best, low_q = hi - mid_q / 4, mid_q + 1
        else:
            high_q = mid_q - 1
    return _remember(key, (at(best), best))


# fit_base's last results by pictures, budget and structure: the coding loop fits the first
# group to the same budget as the first pass did (a whole bisection, about a fifth of a
# 250-frame encode at 4 kbps), and the answer is a function of those inputs alone.
_FITTED: dict[tuple[bytes, tuple[int, ...], float, bool], tuple[bytes, float]] = {}
FITTED_KEPT = 8


def _remember(key: tuple[bytes, tuple[int, ...], float, bool], result: tuple[bytes, float]) -> tuple[bytes, float]:
    _FITTED[key] = result
    while len(_FITTED) > FITTED_KEPT:
        del _FITTED[next(iter(_FITTED))]
    return result


def fit_keyframe(encode: Callable[[int], bytes], quality: int, group_bytes: float) -> bytes:
    """The keyframe at `quality`, or at the highest quality below it whose bytes are at most
    KEYFRAME_SHARE of `group_bytes` (quality 1 when none is): a short group (a scene cut
    soon after the last) cannot pay a full keyframe and a base layer out of its share of
    the target rate, and the base carries every one of its frames while the keyframe
    serves one and lends detail to the rest."""
    for q in range(quality, 0, -1):
        keyframe = encode(q)
        if len(keyframe) <= KEYFRAME_SHARE * group_bytes:
            break
    return keyframe


def fit_group(
    encode_keyframe: Callable[[int], bytes], quality: int, low: np.ndarray, group_bytes: float, low_delay: bool
) -> tuple[bytes, bytes]:
    """A group's (keyframe, base layer) within `group_bytes`: the keyframe from fit_keyframe,
    the base from fit_base with what is left; and while the base at its highest CRF still
    does not fit, the keyframe one quality lower (down to 1). Without that step a keyframe
    within its share left too little for the base's floor: the shipped sample at 5 kbps
    landed 7 % high with a quality-3 keyframe where quality 1 would have fitted."""
    encode_keyframe = functools.cache(encode_keyframe)  # fit_keyframe has coded some of these qualities already
    keyframe = fit_keyframe(encode_keyframe, quality, group_bytes)
    base, _ = fit_base(low, group_bytes - len(keyframe), low_delay)
    q = quality
    while len(keyframe) + len(base) > group_bytes and q > 1:
        q -= 1
        smaller = encode_keyframe(q)
        if len(smaller) < len(keyframe):
            keyframe = smaller
            base, _ = fit_base(low, group_bytes - len(keyframe), low_delay)
    return keyframe, base
