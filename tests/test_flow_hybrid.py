"""Hybrid v2 (model/flow_hybrid.py): what the untrained model returns, that the reference
reaches the output through the flow, and that it trains, validates and resumes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from imfcodec.model import FlowHybrid, preset
from imfcodec.model.flow_hybrid import dense_flow, warp_by_flow
from imfcodec.model.hybrid import upsample


def _pictures(seed: int, size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, size // 8, size // 8, generator=g), size=(size, size), mode="bicubic")
    return x.clamp(0, 1)


@pytest.mark.parametrize("scale", [2, 4])
def test_untrained_v2_is_its_bicubic_base_exactly(scale: int) -> None:
    """The refiner's last layer starts at zero, at half the side or a quarter: fails if it
    does not (training would start from noise instead of the low-resolution anchor)."""
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64, refiner_scale=scale)).eval()
    reference = model.prepare_reference(_pictures(1, 64), torch.rand(1, 3, 16, 16))
    bases = torch.rand(3, 3, 16, 16)
    assert torch.equal(model.decode(reference, bases), upsample(bases, 64))


@pytest.mark.parametrize("flow_preset", ["medium", "fast"])
def test_the_flow_finds_a_shift_and_the_warp_undoes_it(flow_preset: str) -> None:
    """DIS on a picture and its copy shifted 3 px right, at either preset a model may name:
    the flow is about (-3, 0) inside, and warping the copy by it gives the picture back. Fails
    if the flow's direction or the warp's convention is swapped (the reference would be
    pulled the wrong way), or if a preset is mapped to a broken OpenCV one."""
    picture = _pictures(2, 128)
    shifted = torch.roll(picture, shifts=3, dims=3)
    flow = dense_flow(picture, shifted, flow_preset)
    inner = flow[..., 16:-16, 16:-16]
    assert abs(float(inner[:, 0].median()) - 3.0) < 0.5 and abs(float(inner[:, 1].median())) < 0.5
    back = warp_by_flow(shifted, flow)
    assert float((back - picture)[..., 16:-16, 16:-16].abs().mean()) < 0.01


def test_the_reference_reaches_the_output() -> None:
    """With a refiner that is not zero, another reference picture gives other frames; the
    same reference the same frames. Fails if the motion path is cut."""
    torch.manual_seed(0)
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64)).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    base0, bases = torch.rand(1, 3, 16, 16), torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        a = model.decode(model.prepare_reference(_pictures(3, 64), base0), bases)
        b = model.decode(model.prepare_reference(_pictures(4, 64), base0), bases)
        c = model.decode(model.prepare_reference(_pictures(3, 64), base0), bases)
    assert not torch.allclose(a, b, atol=1e-3) and torch.equal(a, c)


def test_the_alignment_ablation_gives_the_reference_unwarped() -> None:
    """align_reference false (item 1's ablation) hands the refiner the reference as it is and
    u_ref − u_t; the default warps it to the moved face. Fails if the switch is ignored either
    way, or if another model accepts it."""
    from imfcodec.errors import ConfigError

    picture = _pictures(5, 64)
    base_ref = torch.nn.functional.interpolate(picture, size=(16, 16), mode="area")
    moved = torch.roll(base_ref, shifts=2, dims=-1)  # the face 8 pixels to the right at 64²
    inputs = {}
    for align in (True, False):
        model = FlowHybrid(preset("hybrid-flow-tiny", size=64, align_reference=align)).eval()
        with torch.no_grad():
            inputs[align] = model.inputs(model.prepare_reference(picture, base_ref), moved)[1]
    assert torch.equal(inputs[False][:, 3:6], picture)
    assert torch.equal(inputs[False][:, 6:9], upsample(base_ref, 64) - upsample(moved, 64))
    assert float((inputs[True][:, 3:6] - picture).abs().mean()) > 0.01
    with pytest.raises(ConfigError):
        preset("hybrid-tiny", align_reference=False)


def test_the_model_computes_its_flow_at_its_own_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model trained on DIS "fast" flows must get them at decode too (and an unknown preset
    is refused when the config is built). Fails if config.flow_preset does not reach the flow."""
    from imfcodec.errors import ConfigError
    from imfcodec.model import flow_hybrid

    asked: list[str] = []
    original = flow_hybrid.dense_flow
    monkeypatch.setattr(flow_hybrid, "dense_flow", lambda f, r, p="medium": asked.append(p) or original(f, r, p))
    for name in ("fast", "medium"):
        model = FlowHybrid(preset("hybrid-flow-tiny", size=64, flow_preset=name)).eval()
        with torch.no_grad():
            model.decode(model.prepare_reference(_pictures(1, 64), torch.rand(1, 3, 16, 16)), torch.rand(2, 3, 16, 16))
    assert asked == ["fast", "medium"]
    with pytest.raises(ConfigError):
        preset("hybrid-flow-tiny", flow_preset="ultrafast")


def test_a_quarter_side_refiner_restores_every_pixel_and_refuses_other_scales() -> None:
    """refiner_scale 4: output at the frame's side, and a change to one pixel of the
    refiner's input moves only its own 4×4 cell's neighbourhood (the shuffle puts each
    residual back where it came from); a scale other than 2 or 4 is a ConfigError. Fails if
    the shuffle and unshuffle factors disagree."""
    from imfcodec.errors import ConfigError

    torch.manual_seed(2)
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64, refiner_scale=4)).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    upsampled, x = torch.rand(1, 3, 64, 64), torch.rand(1, 9, 64, 64)
    moved = x.clone()
    moved[..., 40, 40] += 1
    with torch.no_grad():
        diff = (model.refine(upsampled, moved) - model.refine(upsampled, x)).abs().sum(dim=(0, 1))
    rows, cols = torch.nonzero(diff > 0, as_tuple=True)
    assert diff.shape == (64, 64) and diff[40, 40] > 0
    reach = 4 * (2 + 2 * model.config.refiner_blocks) + 3  # head, two 3×3 a block, tail: one cell each on the 16² grid
    assert int((rows - 40).abs().max()) <= reach and int((cols - 40).abs().max()) <= reach
    with pytest.raises(ConfigError, match="refiner_scale"):
        preset("hybrid-flow-tiny", refiner_scale=3)


def test_training_on_a_window() -> None:
    """forward(crop=...) returns the window's frames: the refiner trains on 128² of 256²."""
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64))
    out, bits = model(_pictures(5, 64), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), crop=(8, 16, 32))
    assert out.shape == (2, 3, 32, 32) and bits.shape == (2,)


def test_v2_training_runs_validates_and_resumes(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    from imfcodec.training.config import load_recipe
    from imfcodec.training.trainer import RunPaths, train

    cfg = load_recipe("hybrid_flow_test")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    last = train(cfg, RunPaths(data=data_dir, out=straight, cache=cache_dir, val=data_dir))
    assert last["step"] == 4 and math.isfinite(last["loss"])
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), stop_after=2)
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), resume=True)
    assert (straight / "weights-rank0.sha256").read_text() == (resumed / "weights-rank0.sha256").read_text()


def test_a_frame_never_reads_a_later_picture() -> None:
    """Low delay holds for hybrid v2: a frame's output depends on its own base picture and
    the group's reference only, so replacing every later base picture in the batch leaves
    the earlier frames exactly as they were. Fails if the model looks at neighbouring rows
    (a window over later pictures would break --low-delay)."""
    torch.manual_seed(1)
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64)).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    reference = model.prepare_reference(_pictures(6, 64), torch.rand(1, 3, 16, 16))
    bases = torch.rand(6, 3, 16, 16)
    later = bases.clone()
    later[3:] = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        a, b = model.decode(reference, bases), model.decode(reference, later)
    assert torch.equal(a[:3], b[:3]) and not torch.equal(a[3:], b[3:])


def test_a_motion_filled_base_variant_is_what_the_decoder_shows(tmp_path: Path) -> None:
    """A recipe's (side, CRF, step, MOTION) variant caches the base pictures the decoder
    shows for a file with the motion fill (base_pictures(..., "motion")), and (..., TIMED)
    those of a timed file whose offsets the encoder chose against these frames, each beside
    (not over) the blended variant of the same layer; a fifth element or an unknown fill is
    a ConfigError. Fails if the fill is dropped (the fine-tune would train on blends the
    encoder no longer sends), if the timed variant's offsets are not the encoder's, or if
    variants share one cache file."""
    import numpy as np
    import pytest

    from imfcodec.codec.hybrid.base_layer import base_pictures, decode_base, downscale, encode_base, encode_offsets
    from imfcodec.codec.hybrid.motion_fill import choose_offsets
    from imfcodec.errors import ConfigError
    from imfcodec.training.data import FrameCache
    from imfcodec.training.hybrid import MOTION, TIMED, build_base_cache
    from tests.conftest import synthetic_frames

    frames = synthetic_frames(12, 64, 64, seed=3)
    frames[1:3] = frames[0]  # held, then a jump: the frames between are not at their linear times
    none = np.zeros(0, np.int64)
    cache = FrameCache(frames, frames[:0], none, none, np.array([0]), np.array([12]), ["a"])
    bases = build_base_cache(tmp_path, cache, ((32, 50, 3, MOTION), (32, 50, 3, TIMED), (32, 50, 3)))
    payload = encode_base(downscale(frames[::3], 32), 50)
    np.testing.assert_array_equal(bases[(32, 50, 3, MOTION)], base_pictures(payload, 12, 3, "motion"))
    np.testing.assert_array_equal(bases[(32, 50, 3)], base_pictures(payload, 12, 3, "linear"))
    # the encoder's own path (hybrid/encode.py's code_group) to a timed group's pictures
    offsets = choose_offsets(decode_base(payload, 4), downscale(frames, 32), 3)
    assert offsets.any()  # else the timed variant is the motion one and this proves nothing
    np.testing.assert_array_equal(bases[(32, 50, 3, TIMED)], base_pictures(payload, 12, 3, "timed", encode_offsets(offsets)))
    assert not np.array_equal(bases[(32, 50, 3, MOTION)], bases[(32, 50, 3)])
    assert not np.array_equal(bases[(32, 50, 3, TIMED)], bases[(32, 50, 3, MOTION)])
    for bad in ((32, 50, 3, 3), (32, 50, 3, MOTION, 0)):
        with pytest.raises(ConfigError, match="expected"):
            build_base_cache(tmp_path, cache, (bad,))
