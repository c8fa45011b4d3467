"""--bitrate's first pass (codec/hybrid/first_pass.py): where the ladder starts, how it steps
down to a layer the target can pay, how --base-size / --base-step pin it, and the scoring of
the affordable layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imfcodec.codec.decoder import read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.codec.hybrid import rate_control
from imfcodec.codec.hybrid.base_layer import base_pictures, downscale, encode_base
from imfcodec.codec.hybrid.first_pass import LAYER_CANDIDATES, base_side_for, base_step_for, choose_layer, layer_ladder
from imfcodec.codec.hybrid.rate_control import CRF_RANGE, FILE_FRAMING_BYTES, GROUP_FRAMING_BYTES, fit_base, fit_bases
from imfcodec.codec.keyframes import get_codec
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model.hybrid import upsample
from tests.conftest import synthetic_frames, write_clip


def test_the_base_layer_keeps_its_picture_rate_whatever_the_clip_frame_rate() -> None:
    """--bitrate's base layer: about 12.5 pictures/s below 15 kbps and 25 above, at 25, 30
    and 60 fps alike (a 60 fps dev clip missed every target by 2x when its base coded every
    second frame). Fails if the step stops following the frame rate or passes its limit."""

    def start(kbps: float, fps: float) -> tuple[int, int]:
        return base_side_for(kbps), base_step_for(kbps, fps)

    assert start(5, 25) == (128, 2) and start(5, 30) == (128, 2) and start(5, 59.94) == (128, 5)
    assert start(3, 25) == (128, 2) and start(2.5, 25) == (96, 2) and start(20, 59.94) == (128, 2)
    assert start(20, 240) == (128, 8)


def _first_fit(frames: np.ndarray, kbps: float, keyframe: int, **pinned: int) -> tuple[int, int]:
    """choose_layer with one candidate: the ladder's first layer that fits, unscored."""
    return choose_layer(frames, kbps, 25, keyframe, False, "repeat", lambda p: 0.0, candidates=1, **pinned)


def test_bitrate_steps_down_to_a_layer_the_target_can_pay(tmp_path: Path, untrained) -> None:
    """--bitrate checks on the first group that the layer it asks for fits the target at its
    highest CRF, and else takes fewer pictures, then a smaller side (a 60 fps dev clip
    landed 21 % over 5 kbps at the floor of its 96² base). Fails if the check is skipped,
    if it passes over a layer that fits, or if the header does not carry its choice."""
    assert layer_ladder(96, 2) == [(96, k) for k in range(2, 9)] + [(64, k) for k in range(2, 9)]
    assert layer_ladder(128, 4) == [(s, k) for s in (128, 96, 64) for k in range(4, 9)]
    frames = synthetic_frames(24, 256, 256, seed=5)
    ladder = layer_ladder(96, 2)
    floor = {(s, k): len(encode_base(downscale(frames[::k], s), CRF_RANGE[1], False)) for s, k in ladder}
    keyframe = len(get_codec("av1").encode(frames[0], 1))

    def kbps_for(group_bytes: float) -> float:  # the target at which a group has exactly these bytes
        return (group_bytes + GROUP_FRAMING_BYTES + FILE_FRAMING_BYTES) * 8 * 25 / len(frames) / 1000

    assert _first_fit(frames, kbps_for(keyframe + floor[(96, 2)] + 1), keyframe, side=96, step=2) == (96, 2)
    # A budget just under the first layer's floor: the first layer down the ladder that fits.
    target = kbps_for(keyframe + floor[(96, 2)] - 1)
    start = (base_side_for(target), base_step_for(target, 25))
    for layer in layer_ladder(*start):
        floor.setdefault(layer, len(encode_base(downscale(frames[:: layer[1]], layer[0]), CRF_RANGE[1], False)))
    expected = next(layer for layer in layer_ladder(*start) if floor[layer] <= floor[(96, 2)] - 1)
    assert expected != (96, 2) and _first_fit(frames, target, keyframe) == expected
    assert _first_fit(frames, 0.01, keyframe) == (64, 8)  # nothing fits: the cheapest
    # The encoder starts from the target's layer and writes what the ladder from there gives.
    budget = floor[(96, 2)] - 1  # the group's budget less the keyframe, by construction of the target
    fitting = [layer for layer in layer_ladder(*start) if floor[layer] <= budget][:LAYER_CANDIDATES]
    below = [layer for layer in layer_ladder(*start) if layer[0] < min(s for s, _ in fitting)]
    fitting += [layer for layer in below if layer[0] == below[0][0] and floor[layer] <= budget][:1] if below else []

    def upscaled_psnr(layer: tuple[int, int]) -> float:  # the first pass's score, computed here on its own
        payload, _ = fit_base(downscale(frames[:: layer[1]], layer[0]), budget, False)
        up = tensor_to_frames(upsample(frames_to_tensor(base_pictures(payload, len(frames), layer[1], "linear")), 256))
        return float(psnr_per_frame(up, frames).mean())

    chosen = max(fitting, key=upscaled_psnr)
    source = write_clip(tmp_path / "a.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    options = EncodeOptions(bitrate_kbps=target, max_keyframe_interval=24, audio=False, keyframe_codec="av1")
    encode_video(source, tmp_path / "a.imf", untrained, options)
    header = read_imf(tmp_path / "a.imf").header
    assert (header["base_size"], header["base_step"]) == chosen != start


def test_base_size_and_step_pin_the_rates_layer(tmp_path: Path, untrained) -> None:
    """--bitrate with --base-size fixes the side and lets the first pass choose the step (and
    with --base-step the step, the side). Fails if a pinned coordinate moves, or if the
    other stops being chosen (before: --bitrate 5 --base-size 96 coded every frame)."""
    assert layer_ladder(96, 2, fixed_side=True) == [(96, k) for k in range(2, 9)]
    assert layer_ladder(96, 3, fixed_step=True) == [(96, 3), (64, 3)]
    frames = synthetic_frames(24, 256, 256, seed=5)
    source = write_clip(tmp_path / "a.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    for pinned, check in (
        (dict(base_size=128), lambda h: h["base_size"] == 128 and h["base_step"] > 1),
        (dict(base_step=3), lambda h: h["base_step"] == 3),
    ):
        encode_video(source, tmp_path / "p.imf", untrained, EncodeOptions(bitrate_kbps=5, max_keyframe_interval=24, audio=False, **pinned))
        header = read_imf(tmp_path / "p.imf").header
        assert check(header), (pinned, header["base_size"], header["base_step"])


def test_the_first_pass_scores_the_affordable_layers() -> None:
    """choose_layer fits each of the first LAYER_CANDIDATES affordable layers to the budget and
    keeps the best score: fails if it stops at the ladder's first fit, scores a layer that does
    not fit, or hands the score pictures that are not the group's (one per frame)."""
    frames = synthetic_frames(16, 256, 256, seed=3)
    seen: list[tuple[int, ...]] = []

    def by_step(pictures: np.ndarray) -> float:  # a score that prefers the fewest distinct pictures
        seen.append(pictures.shape)
        return -len({p.tobytes() for p in pictures})

    def best(kbps: float, score) -> tuple[int, int]:  # 96², the ladder from every frame (the rate's start above 15 kbps)
        return choose_layer(frames, kbps, 25, 0, False, "repeat", score, side=96)

    generous = 200.0  # kbps: every layer fits
    assert best(generous, by_step) == (96, LAYER_CANDIDATES)  # the third candidate: every 3rd frame
    assert len(seen) == LAYER_CANDIDATES and all(shape == (16, 96, 96, 3) for shape in seen)
    seen.clear()
    assert best(generous, lambda p: -by_step(p)) == (96, 1)
    assert choose_layer(frames, 0.01, 25, 0, False, "repeat", by_step) == (64, 8)  # none fits: the cheapest, unscored
    assert len(seen) == LAYER_CANDIDATES


def test_the_next_smaller_side_competes() -> None:
    """Beside the first LAYER_CANDIDATES affordable layers of the ladder's side, the first
    affordable layer one side down is scored too (the front's best on the 60 fps dev clip is
    96² where the others' is 128²). Fails if the smaller side is never offered, or offered
    where the side is pinned."""
    frames = synthetic_frames(16, 256, 256, seed=3)
    seen: list[int] = []

    def smallest(pictures: np.ndarray) -> float:  # prefers the smaller picture
        seen.append(pictures.shape[1])
        return -pictures.shape[1]

    generous = 200.0  # kbps: every layer fits; the ladder starts at 128², every frame
    assert choose_layer(frames, generous, 25, 0, False, "repeat", smallest) == (96, 1)
    assert seen == [128] * LAYER_CANDIDATES + [96]
    seen.clear()
    assert choose_layer(frames, generous, 25, 0, False, "repeat", smallest, side=128)[0] == 128
    assert seen == [128] * LAYER_CANDIDATES


def test_the_candidates_fitted_side_by_side_are_the_ones_fitted_alone() -> None:
    """fit_bases runs the first pass's CRF searches in parallel children: each job gets its
    own search's bytes and CRF, the same as fit_base alone, and the results are remembered
    for the coding loop. Fails if results are paired with the wrong job or differ from a
    search run alone, or the memo is not filled in the parent."""
    frames = synthetic_frames(8, 256, 256, seed=5)
    jobs = [(downscale(frames[::k], s), budget, False, None) for s, k, budget in ((96, 1, 1500.0), (64, 2, 400.0), (128, 4, 900.0))]
    rate_control._FITTED.clear()
    together = fit_bases(jobs, workers=2)
    assert len(rate_control._FITTED) == len(jobs)
    rate_control._FITTED.clear()
    alone = [fit_base(*job) for job in jobs]
    assert together == alone
    assert len({crf for _, crf in alone}) > 1 or len({len(p) for p, _ in alone}) > 1  # the jobs are told apart
