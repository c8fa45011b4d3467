"""--bitrate's first pass: the base layer's shape (side B, picture step n) for the whole
file, chosen once on the first group's frames before the header is written. The one place
where a rate-controlled file's layer is decided.

The ladder starts from the target (base_side_for, base_step_for), goes to cheaper layers
(fewer pictures first, then a smaller side), keeps the first LAYER_CANDIDATES whose base at
the highest CRF fits the first group's budget and the first that fits at the next smaller
side, fits each to that budget and keeps the one whose bicubic upscale is closest to the
frames. `--base-size` / `--base-step` given with the rate pin that coordinate of the
ladder; the first pass chooses the other.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from ...watchdog import usable_cores
from ..options import BASE_SIZES, BASE_STEPS
from .base_layer import base_pictures, decode_base, downscale, encode_bases, encode_offsets, fill_skipped
from .motion_fill import choose_offsets
from .rate_control import CRF_RANGE, fit_bases, group_budget

LAYER_CANDIDATES = 3  # layers the first pass fits and scores: each costs a CRF search on the first group


def base_side_for(kbps: float) -> int:
    """Where the ladder starts, side: 128² from 3 kbps. On the like-for-like low-res front of
    the six dev clips the best layer at or under 4 kbps is 128² at every 4th–5th picture,
    blended, on five of six clips; whole files at `--bitrate` 3/4/5/8 with the side held at
    128² against the 64²/96² this started from before: +1.0/+0.35/+0.05/+0.42 dB PSNR and
    +15/+7/+3/+5 VMAF on edtalk-mouth_source (docs/BENCHMARKS.md, "The layer at 128²"). Below
    3 kbps 96²: no 128² layer fits a 250-frame group's budget there."""
    return 96 if kbps < 3 else 128


def base_step_for(kbps: float, fps: float) -> int:
    """Where the ladder starts, picture step at `fps`: about 12.5 pictures a second (every
    second frame at 25–30 fps) lead the same front up to 15 kbps, 25 a second above. A 60 fps
    clip (the dev clip imf-face) gets the same picture rates (every 5th frame) instead of
    spending 2.4× the bits per second on pictures; the step stops at the format's 8."""
    pictures_per_second = 12.5 if kbps < 15 else 25.0
    return min(BASE_STEPS[-1], max(1, round(fps / pictures_per_second)))


def layer_ladder(side: int, step: int, fixed_side: bool = False, fixed_step: bool = False) -> list[tuple[int, int]]:
    """(side, step) from the given one to the cheapest: fewer pictures first, then a smaller
    side; a fixed coordinate stays. On the random-access low-res front (six dev clips) 96² at
    every second frame gives 30.76 dB at 7.41 kbps where 64² at every frame gives 28.79 dB at
    7.92: dropping pictures costs less than dropping resolution at these rates."""
    sides = [side] if fixed_side else [s for s in sorted(BASE_SIZES, reverse=True) if s <= side]
    steps = [step] if fixed_step else [k for k in BASE_STEPS if k >= step]
    return [(s, k) for s in sides for k in steps]


def first_pass_budget(first_group: np.ndarray, kbps: float, fps: float, keyframe_bytes: int) -> float:
    """Bytes the first group's base layer may take beside its smallest keyframe."""
    return group_budget(kbps, len(first_group), fps, first=True) - keyframe_bytes


def _fitting_layers(
    first_group: np.ndarray, budget: float, ladder: list[tuple[int, int]], low_delay: bool
) -> Iterator[tuple[tuple[int, int], np.ndarray, bytes]]:
    """(layer, its downscaled pictures, its base layer at the highest CRF) for each layer of
    the ladder whose cheapest base layer fits `budget` bytes, in ladder order. The floors are
    coded as many at once as there are cores (at most one more than the caller reads: a
    ladder walked one encode at a time took 2.2 s of a 250-frame encode at 4 kbps)."""
    workers = usable_cores()
    for i in range(0, len(ladder), workers):
        layers = ladder[i : i + workers]
        lows = [downscale(first_group[::k], s) for s, k in layers]
        floors = encode_bases([(low, CRF_RANGE[1], low_delay) for low in lows], workers)
        for layer, low, floor in zip(layers, lows, floors):
            if len(floor) <= budget:
                yield layer, low, floor


def choose_layer(
    first_group: np.ndarray,
    kbps: float,
    fps: float,
    keyframe_bytes: int,
    low_delay: bool,
    fill: str,
    score: Callable[[np.ndarray], float],
    side: int | None = None,
    step: int | None = None,
    candidates: int = LAYER_CANDIDATES,
) -> tuple[int, int]:
    """The base layer (side, step) for a file at `kbps`, from its first group's frames
    (T, S, S, 3) uint8 at `fps`; `side`/`step` pin that coordinate. Of the first
    `candidates` affordable layers and the first affordable one at the next smaller side,
    the one whose base layer, fitted to the first group's budget, scores highest: `score`
    gets the group's base pictures (T, B, B, 3) as the decoder fills them (`fill`). The
    ladder's first fit is not always the best: a still head (dev clip lp-d19 at 3 kbps)
    keeps more detail in fewer, better pictures. When no layer fits, the ladder's cheapest
    (the file then lands above its target)."""
    ladder = layer_ladder(
        base_side_for(kbps) if side is None else side,
        base_step_for(kbps, fps) if step is None else step,
        side is not None,
        step is not None,
    )
    budget = first_pass_budget(first_group, kbps, fps, keyframe_bytes)
    fitting = list(itertools.islice(_fitting_layers(first_group, budget, ladder, low_delay), candidates))
    if fitting:  # a smaller picture at more pictures a second competes: the front's best on imf-face is 96²
        smaller = [layer for layer in ladder if layer[0] < min(s for (s, _), _, _ in fitting)]
        next_side = [layer for layer in smaller if layer[0] == smaller[0][0]] if smaller else []
        fitting += itertools.islice(_fitting_layers(first_group, budget, next_side, low_delay), 1)
    if len(fitting) <= 1:
        return fitting[0][0] if fitting else ladder[-1]
    # the floor check coded CRF_RANGE[1] already; the searches run side by side
    fitted = fit_bases([(low, budget, low_delay, floor) for _, low, floor in fitting])
    scores = {}
    for ((s, k), _, _), (payload, _) in zip(fitting, fitted):
        scores[(s, k)] = score(base_pictures(payload, len(first_group), k, fill))
    return max(scores, key=lambda layer: scores[layer])  # the first of equals: the ladder's order


# The motion fill must beat the blend by this much on the first group (PSNR of the bicubic
# upscale, dB) to be chosen. Where the two are within a few hundredths (retalking-4 at 4
# kbps: -0.01 dB) the network's output from the moved pictures lost 0.6–1.0 VMAF; where it
# is chosen (edtalk-mouth_source +0.24, lp-d3 +0.14) it gained 0.13–0.22 dB and up to 2.3 VMAF.
MOTION_FILL_MARGIN_DB = 0.05

# The timed fill's offsets cost bits the base layer would otherwise get: it is chosen when
# its gain on the first group (dB, the bicubic upscale) exceeds its offsets' rate (kbps)
# times this. The default model's PSNR rises 0.6–2.6 dB per kbps of base layer between 3
# and 4 kbps on the six dev clips (1.0 the median; docs/BENCHMARKS.md).
TIMED_FILL_DB_PER_KBPS = 1.5


def choose_fill(
    payload: bytes, frame_count: int, step: int, score: Callable[[np.ndarray], float], truth: np.ndarray | None = None, fps: float = 25.0
) -> str:
    """How a random-access layer's skipped frames are filled for the whole file: "motion"
    when the first group's base layer `payload` (every `step`-th of `frame_count` frames)
    scores MOTION_FILL_MARGIN_DB higher filled by motion than blended, else "linear"; and,
    given `truth` (the first group at the base side, (T, B, B, 3)), "timed" where the
    offsets the encoder would send buy more than their rate is worth (TIMED_FILL_DB_PER_KBPS)."""
    coded = decode_base(payload, -(-frame_count // step))
    linear = score(fill_skipped(coded, frame_count, step, "linear"))
    motion = score(fill_skipped(coded, frame_count, step, "motion"))
    fill, best = ("motion", motion) if motion > linear + MOTION_FILL_MARGIN_DB else ("linear", linear)
    if truth is None:
        return fill
    offsets = choose_offsets(coded, truth, step)
    timed = score(fill_skipped(coded, frame_count, step, "timed", offsets))
    offsets_kbps = len(encode_offsets(offsets)) * 8 / (frame_count / fps) / 1000
    return "timed" if timed - best > TIMED_FILL_DB_PER_KBPS * offsets_kbps else fill
