"""fit_base's search over CRF in quarter steps, on size curves of known shape (no encoder):
the answer is the bracket's edge, and it costs fewer encodes than bisection did."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imfcodec.codec.hybrid import rate_control
from imfcodec.codec.hybrid.rate_control import CRF_RANGE, fit_base

# (CRF, bytes) of dev clip edtalk-mouth_source's 128² layer at every 4th frame, 250 frames
# (SVT-AV1 preset 4, random access): log-bytes fall 15 % a CRF step near 63, 5 % near 40.
MEASURED = [(20, 34000), (30, 20522), (40, 11772), (48, 7994), (54, 6127), (58, 4924), (61, 3819), (63, 2819)]


def measured_like(q: int, scale: float) -> int:
    """Bytes at CRF q/4: MEASURED, straight between its points in log-bytes, times `scale`."""
    crfs, sizes = zip(*MEASURED)
    return int(scale * math.exp(float(np.interp(q / 4, crfs, np.log(sizes)))))


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_the_search_finds_the_edge_in_few_encodes(monkeypatch: pytest.MonkeyPatch, scale: float) -> None:
    """For 40 budgets from the floor to the size at CRF 20: the CRF returned fits and a
    quarter step lower does not (or it is CRF 20), at most 9 encodes a fit and under 6.5 on
    average (bisection: 8-9). Fails if the search returns a CRF inside the bracket rather
    than its edge (a base that wastes part of its share), or degrades toward a linear scan."""
    asked: list[float] = []

    def encode(low: np.ndarray, crf: float, low_delay: bool) -> bytes:
        asked.append(crf)
        return bytes(measured_like(round(crf * 4), scale))

    monkeypatch.setattr(rate_control, "encode_base", encode)
    lo_q, hi_q = CRF_RANGE[0] * 4, CRF_RANGE[1] * 4
    counts = []
    for i in range(40):
        budget = measured_like(hi_q, scale) * (measured_like(lo_q, scale) / measured_like(hi_q, scale)) ** (i / 40)
        asked.clear()
        payload, crf = fit_base(np.full((1, 2, 2, 3), i, np.uint8), budget, False)  # distinct pictures: no memo
        q = round(crf * 4)
        assert len(payload) <= budget and (q == lo_q or measured_like(q - 1, scale) > budget), (budget, crf)
        assert len(asked) == len(set(asked))  # no CRF coded twice
        counts.append(len(asked))
    assert max(counts) <= 9 and sum(counts) / len(counts) < 6.5, counts


def test_a_budget_under_the_floor_gets_the_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing fits: the highest CRF, coded once. Fails if the search runs on below it."""
    asked: list[float] = []
    monkeypatch.setattr(rate_control, "encode_base", lambda low, crf, ld: asked.append(crf) or bytes(1000))
    payload, crf = fit_base(np.zeros((1, 2, 2, 3), np.uint8), 999, False)
    assert crf == CRF_RANGE[1] and len(payload) == 1000 and asked == [CRF_RANGE[1]]


def test_sizes_that_do_not_fall_still_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat size curve (a still picture SVT-AV1 codes the same at every CRF) has no slope
    to follow: the search still ends, at CRF 20. Fails if a zero slope divides or loops."""
    monkeypatch.setattr(rate_control, "encode_base", lambda low, crf, ld: bytes(500))
    _, crf = fit_base(np.ones((1, 2, 2, 3), np.uint8), 600, False)
    assert crf == CRF_RANGE[0]


def test_a_refit_of_the_same_layer_starts_from_what_the_first_fit_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timed fill refits the first group's layer to leave room for its offsets, a few
    dozen bytes under the first pass's budget: the search starts from the sizes the first fit
    coded, so it codes one or two layers, not five or more, and lands where a search from
    scratch lands. Fails if the sizes are not kept per layer, or the bracket they give is
    wrong (the refit would not fit, or would stop inside it)."""
    asked: list[float] = []

    def encode(low: np.ndarray, crf: float, low_delay: bool) -> bytes:
        asked.append(crf)
        return bytes(measured_like(round(crf * 4), 1.0))

    monkeypatch.setattr(rate_control, "encode_base", encode)
    low = np.full((1, 2, 2, 3), 201, np.uint8)
    fit_base(low, 4000.0, False)
    first = len(asked)
    asked.clear()
    payload, crf = fit_base(low, 3940.0, False)
    assert len(asked) <= 2 < first, (asked, first)
    cold_payload, cold_crf = fit_base(np.full((1, 2, 2, 3), 202, np.uint8), 3940.0, False)  # another layer: from scratch
    assert (len(payload), crf) == (len(cold_payload), cold_crf)


def test_the_first_pass_children_hand_back_their_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first pass fits its candidate layers in forked children (fit_bases): the sizes
    they coded come back with their answers, so the refit in the parent is short too. Fails
    if only the answers come back (the refit searches from scratch: five or more encodes)."""
    asked: list[float] = []

    def encode(low: np.ndarray, crf: float, low_delay: bool) -> bytes:
        asked.append(crf)
        return bytes(measured_like(round(crf * 4), 1.0 + low[0, 0, 0, 0] / 1000))

    monkeypatch.setattr(rate_control, "encode_base", encode)
    lows = [np.full((1, 2, 2, 3), v, np.uint8) for v in (211, 212)]
    rate_control.fit_bases([(low, 4000.0, False, None) for low in lows], workers=2)
    assert asked == []  # every encode ran in a child
    rate_control.fit_base(lows[0], 3940.0, False)
    assert len(asked) <= 2, asked
