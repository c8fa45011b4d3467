"""--bitrate for the hybrid mode: the base layer's size from the target, its CRF per
keyframe group from a search over the group's own frames (a first pass at B×B costs a
fraction of the encode), so every group, and the file, lands on its share of the bits."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator

import numpy as np

from .base_layer import BASE_SIZES, BASE_STEPS, base_pictures, downscale, encode_base

KEYFRAME_SHARE = 0.35  # at most this share of a group's bits for its keyframe, where a lower quality allows
CRF_RANGE = (20, 63)  # SVT-AV1's useful CRFs at these sizes: below 20 the base costs more than the whole target
# Bytes the container adds, measured on hybrid files: 32 a group (its GRUP chunk's type,
# length, CRC and varints, and its index entry) and about 228 once a file (preamble,
# header, the index's framing, footer). Left out, a one-group 4-second clip at 3 kbps
# landed 17 % high.
GROUP_FRAMING_BYTES = 32
FILE_FRAMING_BYTES = 230
# Layers the first pass fits and scores (best_layer): each costs a CRF search on the first group.
LAYER_CANDIDATES = 3


def base_layer_for(kbps: float, fps: float = 25.0) -> tuple[int, int]:
    """(side, step) of the base layer for a target rate (kbps, video) at `fps` frames/s, where
    the first pass (best_layer) starts. From the random-access low-res front of the six dev
    clips (docs/BENCHMARKS.md): bases at about 12.5 pictures a second (every second frame at
    25–30 fps) lead it up to 15 kbps, 25 a second above; 64² up to 4 kbps, 96² to 9 kbps (where
    the model's gain, +0.4 dB at 96² against +0.05 at 128², keeps it level with the anchor's
    128²), 128² above. A 60 fps clip (the dev clip imf-face) gets the same picture rates
    (every 5th frame) instead of spending 2.4× the bits per second on pictures; the step
    stops at the format's 8."""
    return base_side_for(kbps), base_step_for(kbps, fps)


def base_side_for(kbps: float) -> int:
    """The base layer's side for a target rate (kbps): base_layer_for's first half."""
    return 64 if kbps < 4 else 96 if kbps < 9 else 128


def base_step_for(kbps: float, fps: float) -> int:
    """The base layer's frame step for a target rate (kbps) at `fps`: base_layer_for's second half."""
    pictures_per_second = 12.5 if kbps < 15 else 25.0
    return min(BASE_STEPS[-1], max(1, round(fps / pictures_per_second)))


def group_budget(kbps: float, frames: int, fps: float, first: bool) -> float:
    """Bytes a keyframe group of `frames` frames may take at `kbps`, less its framing, and
    for the file's first group less the file's own."""
    return kbps * 1000 / 8 * frames / fps - GROUP_FRAMING_BYTES - (FILE_FRAMING_BYTES if first else 0)


def cheaper_layers(side: int, step: int) -> list[tuple[int, int]]:
    """(side, step) from the given one to the cheapest: fewer pictures first, then a smaller
    side. On the random-access low-res front (docs/BENCHMARKS.md, six dev clips) 96² at every
    second frame gives 30.76 dB at 7.41 kbps where 64² at every frame gives 28.79 dB at 7.92:
    dropping pictures costs less than dropping resolution at these rates."""
    sides = [s for s in sorted(BASE_SIZES, reverse=True) if s <= side]
    return [(s, k) for s in sides for k in BASE_STEPS if k >= step]


def _fitting_layers(
    first_group: np.ndarray, budget: float, side: int, step: int, low_delay: bool
) -> Iterator[tuple[tuple[int, int], np.ndarray, bytes]]:
    """(layer, its downscaled pictures, its base layer at the highest CRF) for each layer of
    cheaper_layers(side, step) whose cheapest base layer fits `budget` bytes, in ladder order."""
    for s, k in cheaper_layers(side, step):
        low = downscale(first_group[::k], s)
        floor = encode_base(low, CRF_RANGE[1], low_delay)
        if len(floor) <= budget:
            yield (s, k), low, floor


def first_pass_budget(first_group: np.ndarray, kbps: float, fps: float, keyframe_bytes: int) -> float:
    """Bytes the first group's base layer may take beside its smallest keyframe."""
    return group_budget(kbps, len(first_group), fps, first=True) - keyframe_bytes


def affordable_layers(
    first_group: np.ndarray, kbps: float, fps: float, side: int, step: int, keyframe_bytes: int, low_delay: bool, most: int = 1
) -> list[tuple[int, int]]:
    """The first `most` (side, step) of cheaper_layers(side, step) whose cheapest base layer
    (the highest CRF) fits beside the smallest keyframe (`keyframe_bytes`) in the first
    group's budget: a quick first pass on the first group's frames (T, S, S, 3) uint8.
    Without it a clip whose frames are too many for the target (a 60 fps clip at 5 kbps)
    lands at the base layer's floor, 20 % and more above; [the cheapest] when none fits."""
    budget = first_pass_budget(first_group, kbps, fps, keyframe_bytes)
    fitting = [layer for layer, _, _ in itertools.islice(_fitting_layers(first_group, budget, side, step, low_delay), most)]
    return fitting or [cheaper_layers(side, step)[-1]]


def best_layer(
    first_group: np.ndarray,
    kbps: float,
    fps: float,
    side: int,
    step: int,
    keyframe_bytes: int,
    low_delay: bool,
    fill: str,
    score: Callable[[np.ndarray], float],
    candidates: int = LAYER_CANDIDATES,
) -> tuple[int, int]:
    """Of the first `candidates` affordable layers, the one whose base layer, fitted to the
    first group's budget (fit_base), scores highest: `score` gets the group's base pictures
    (T, B, B, 3) as the decoder fills them (`fill`; the encoder's score: PSNR-RGB of their
    bicubic upscale against the group's frames). The ladder's first fit is not always the
    best: a still head (dev clip lp-d19 at 3 kbps) keeps more detail in fewer, better pictures."""
    budget = first_pass_budget(first_group, kbps, fps, keyframe_bytes)
    fitting = list(itertools.islice(_fitting_layers(first_group, budget, side, step, low_delay), candidates))
    if len(fitting) <= 1:
        return fitting[0][0] if fitting else cheaper_layers(side, step)[-1]
    scores = {}
    for (s, k), low, floor in fitting:
        payload, _ = fit_base(low, budget, low_delay, floor)  # the floor check coded CRF_RANGE[1] already
        scores[(s, k)] = score(base_pictures(payload, len(first_group), k, fill))
    return max(scores, key=lambda layer: scores[layer])  # the first of equals: the ladder's order


def fit_base(low: np.ndarray, budget_bytes: float, low_delay: bool, floor: bytes | None = None) -> tuple[bytes, int]:
    """The base layer of `low` (T, B, B, 3) at the lowest CRF (best picture) whose bytes fit
    `budget_bytes`, by bisection over CRF_RANGE; at the highest CRF when none fits. `floor`:
    that layer at the highest CRF, if the caller has coded it. Returns (payload, CRF)."""
    tried: dict[int, bytes] = {} if floor is None else {CRF_RANGE[1]: floor}

    def at(crf: int) -> bytes:
        if crf not in tried:
            tried[crf] = encode_base(low, crf, low_delay)
        return tried[crf]

    lo, hi = CRF_RANGE
    if len(at(hi)) > budget_bytes:
        return at(hi), hi
    while lo < hi:  # invariant: hi fits
        mid = (lo + hi) // 2
        if len(at(mid)) <= budget_bytes:
            hi = mid
        else:
            lo = mid + 1
    return at(hi), hi


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
