"""--bitrate for the hybrid mode, per group: each group's share of the target in bytes, and
its base layer's CRF (and keyframe picture's quality, if it has one) from a search over the
group's own frames, so every group, and the file, lands on its share of the bits. The
layer's shape is chosen once, before the first group, by first_pass.py."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable

import numpy as np

from ...watchdog import call_all_with_time_limit, usable_cores
from .base_layer import base_time_limit, encode_base

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
    """The base layer of `low` (T, B, B, 3) at the lowest CRF in quarter steps (best picture)
    whose bytes fit `budget_bytes`, at the highest CRF when none fits; `floor`: that layer at
    the highest CRF, if the caller has coded it. Returns (payload, CRF). Quarter steps: near
    CRF 60 one whole step is 10 % of a 128² layer's bytes, and a 4-second clip at 4 kbps
    landed 10 % under its target with whole steps.

    The search keeps a bracket, a CRF that fits and one below it that does not, until they
    are a quarter step apart (the answer where bytes fall monotonically with CRF, as they
    nearly do). Each guess is where the straight line in log-bytes between the bracket's
    ends meets the budget (secant_guess); after SECANT_TRIES guesses in a row that did not
    halve the bracket, one halving. On every quarter CRF's size of four dev-clip layers
    (64-128², 160 budgets from the floor to CRF 20) this took 5.3 encodes a fit, at most 9,
    where bisection took 8.5 (at most 9), and chose the same CRF but for 3 of 160 budgets
    (sizes are not strictly monotone in quarter steps)."""
    key = _key(low, budget_bytes, low_delay)
    if key in _FITTED:  # the first pass fitted the first group's layer already: the same bytes
        return _FITTED[key]
    coded: dict[int, bytes] = {} if floor is None else {CRF_RANGE[1] * 4: floor}  # by CRF in quarters
    known = _SIZES.setdefault(_layer(key), {})  # this layer's sizes from earlier fits (another budget)
    known.update({q: len(b) for q, b in coded.items()})

    def size(q: int) -> int:
        if q not in known:
            coded[q] = encode_base(low, q / 4, low_delay)
            known[q] = len(coded[q])
        return known[q]

    lo, hi = CRF_RANGE[0] * 4 - 1, CRF_RANGE[1] * 4  # lo below the range: "does not fit", uncoded
    if size(hi) > budget_bytes:
        return _remember(key, (_payload(low, hi, low_delay, coded), hi / 4))
    # A layer fitted before to another budget (the timed fill's first group, refitted to
    # leave room for its offsets) starts from the bracket its sizes give.
    hi = min((q for q, n in known.items() if n <= budget_bytes), default=hi)
    lo = max((q for q, n in known.items() if n > budget_bytes and q < hi), default=lo)
    slow = 0  # guesses in a row that did not halve the bracket
    while hi - lo > 1:  # invariant: hi fits, lo does not
        width = hi - lo
        if slow < SECANT_TRIES:
            q = min(max(secant_guess(known, lo, hi, budget_bytes), lo + 1), hi - 1)
        else:
            q = (lo + hi) // 2
        if size(q) <= budget_bytes:
            hi = q
        else:
            lo = q
        slow = slow + 1 if 2 * (hi - lo) > width and slow < SECANT_TRIES else 0
    return _remember(key, (_payload(low, hi, low_delay, coded), hi / 4))


def _payload(low: np.ndarray, q: int, low_delay: bool, coded: dict[int, bytes]) -> bytes:
    """The layer at CRF q/4: coded in this search, or again (an earlier fit knew its size)."""
    if q not in coded:
        coded[q] = encode_base(low, q / 4, low_delay)
    return coded[q]


def fit_bases(jobs: list[tuple[np.ndarray, float, bool, bytes | None]], workers: int | None = None) -> list[tuple[bytes, float]]:
    """fit_base(*job) for each job, `workers` (default: the usable cores) at once, each in a
    forked child; the results are remembered here as fit_base's own are, and are the same
    bytes and CRFs (each search is deterministic and alone in its child). The first pass's
    candidate layers: SVT-AV1 runs on one thread (bytes independent of the host), so one
    search leaves the other cores idle; on 2 cores the first pass of a 250-frame encode at 4
    kbps took 8.6 s of searches one after another (docs/BENCHMARKS.md)."""
    todo = [job for job in jobs if _key(job[0], job[1], job[2]) not in _FITTED]
    if len(todo) > 1 and (workers or usable_cores()) > 1:
        # Each search codes at most about 12 pictures sets, each under its own watchdog;
        # this limit only catches a child that dies without a word.
        limit = 24 * base_time_limit(max(len(job[0]) for job in todo))
        fns = [functools.partial(_fit_and_sizes, *job) for job in todo]
        for job, (result, sizes) in zip(
            todo, call_all_with_time_limit(fns, limit, "the first pass's base layer fits", workers or usable_cores())
        ):
            key = _key(job[0], job[1], job[2])
            _remember(key, result)
            _SIZES.setdefault(_layer(key), {}).update(sizes)
    return [fit_base(*job) for job in jobs]  # from the memo where fitted above


def _fit_and_sizes(
    low: np.ndarray, budget_bytes: float, low_delay: bool, floor: bytes | None
) -> tuple[tuple[bytes, float], dict[int, int]]:
    """fit_base in a child, with the sizes its search learned (for a later refit in the parent)."""
    result = fit_base(low, budget_bytes, low_delay, floor)
    key = _key(low, budget_bytes, low_delay)
    return result, dict(_SIZES.get(_layer(key), {}))


def _layer(key: tuple[bytes, tuple[int, ...], float, bool]) -> tuple[bytes, tuple[int, ...], bool]:
    """A fit's key without its budget: the layer (pictures and structure) alone."""
    return key[0], key[1], key[3]


def _key(low: np.ndarray, budget_bytes: float, low_delay: bool) -> tuple[bytes, tuple[int, ...], float, bool]:
    return (hashlib.sha256(np.ascontiguousarray(low).tobytes()).digest(), low.shape, budget_bytes, low_delay)


SECANT_TRIES = 4  # slow guesses before a halving: bounds the search near bisection's count on odd curves
GUESS_SLOPE = 0.05 / 4  # log-bytes a quarter CRF step before two CRFs are coded: the dev clips' middle


def secant_guess(sizes: dict[int, int], lo: int, hi: int, budget_bytes: float) -> int:
    """The CRF in quarters where log(bytes) reaches `budget_bytes` on the line through the
    bracket's ends (`sizes` by CRF in quarters; hi coded and fits, lo coded or not), from the
    end nearer the budget; with lo uncoded, from hi along the slope to the nearest CRF coded
    above it, or GUESS_SLOPE. Rounded up, to the side that fits."""
    if lo in sizes:
        slope = (math.log(sizes[lo]) - math.log(sizes[hi])) / (hi - lo)
        anchor = min((lo, hi), key=lambda q: abs(math.log(sizes[q] / budget_bytes)))
    else:
        above = [q for q in sizes if q > hi]
        slope = (math.log(sizes[hi]) - math.log(sizes[min(above)])) / (min(above) - hi) if above else GUESS_SLOPE
        anchor = hi
    if slope <= 0:  # sizes that do not fall with CRF here: no line to follow
        slope = GUESS_SLOPE
    return math.ceil(anchor - (math.log(budget_bytes) - math.log(sizes[anchor])) / slope)


# fit_base's last results by pictures, budget and structure: the coding loop fits the first
# group to the same budget as the first pass did (a whole bisection, about a fifth of a
# 250-frame encode at 4 kbps), and the answer is a function of those inputs alone.
_FITTED: dict[tuple[bytes, tuple[int, ...], float, bool], tuple[bytes, float]] = {}
FITTED_KEPT = 8  # above the first pass's candidates (LAYER_CANDIDATES + 1)
# And each layer's bytes at every CRF (quarters) those searches coded, by pictures and
# structure: a refit of the same layer to another budget starts from them.
_SIZES: dict[tuple[bytes, tuple[int, ...], bool], dict[int, int]] = {}


def _remember(key: tuple[bytes, tuple[int, ...], float, bool], result: tuple[bytes, float]) -> tuple[bytes, float]:
    _FITTED[key] = result
    while len(_FITTED) > FITTED_KEPT:
        del _FITTED[next(iter(_FITTED))]
    while len(_SIZES) > FITTED_KEPT:
        del _SIZES[next(iter(_SIZES))]
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
