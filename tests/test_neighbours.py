"""Hybrid v2 with neighbouring pictures (IMFConfig.neighbour_pictures = 2): which pictures a
frame reads, in the decoder and in training, that the untrained model is still its base,
that the neighbours reach the output, and that --low-delay never reads a later picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imfcodec.codec.hybrid.decode import decode_hybrid_group, neighbour_positions
from imfcodec.model import FlowHybrid, preset
from imfcodec.model.hybrid import upsample


def _model(seed: int = 0, trained: bool = True) -> FlowHybrid:
    """A tiny neighbour model at 64²; `trained`: a refiner tail that is not zero, so every
    input can reach the output (a trained model's, in effect)."""
    torch.manual_seed(seed)
    model = FlowHybrid(preset("hybrid-flow-tiny", size=64, neighbour_pictures=2)).eval()
    if trained:
        torch.nn.init.normal_(model.tail.weight, std=0.05)
    return model


def test_neighbour_positions_name_the_coded_pictures_around_each_frame() -> None:
    """Every 3rd of 8 frames coded (0, 3, 6): before and after each frame, itself where
    there is none. Fails on an off-by-one (a coded frame naming itself, a skipped frame
    skipping a coded neighbour) or a neighbour past the last coded picture."""
    expected = [(0, 3), (0, 3), (0, 3), (0, 6), (3, 6), (3, 6), (3, 6), (6, 7)]
    assert [tuple(p) for p in neighbour_positions(8, 3).tolist()] == expected
    assert [tuple(p) for p in neighbour_positions(4, 1).tolist()] == [(0, 1), (0, 2), (1, 3), (2, 3)]


def test_low_delay_positions_are_never_later() -> None:
    """--low-delay: no frame names a later picture. Fails if the later neighbour leaks in."""
    for frame_count, step in ((8, 3), (10, 1), (9, 4)):
        positions = neighbour_positions(frame_count, step, low_delay=True)
        assert (positions <= np.arange(frame_count)[:, None]).all()
        assert (positions[:, 1] == np.arange(frame_count)).all()


def test_an_untrained_neighbour_model_is_its_bicubic_base_exactly() -> None:
    """The zero-initialised tail holds with the wider head too. Fails if it does not."""
    model = _model(trained=False)
    reference = model.prepare_reference(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 16, 16))
    bases, neighbours = torch.rand(3, 3, 16, 16), torch.rand(3, 2, 3, 16, 16)
    assert torch.equal(model.decode(reference, bases, neighbours=neighbours), upsample(bases, 64))


def test_the_neighbours_reach_the_output_and_are_required() -> None:
    """Other neighbouring pictures give other frames, the same ones the same frames, and a
    neighbour model called without them is a one-line error. Fails if the neighbours' path
    is cut or silently skipped."""
    model = _model(1)
    reference = model.prepare_reference(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 16, 16))
    bases, neighbours = torch.rand(2, 3, 16, 16), torch.rand(2, 2, 3, 16, 16)
    with torch.no_grad():
        a = model.decode(reference, bases, neighbours=neighbours)
        b = model.decode(reference, bases, neighbours=torch.rand(2, 2, 3, 16, 16))
        c = model.decode(reference, bases, neighbours=neighbours.clone())
    assert not torch.allclose(a, b, atol=1e-3) and torch.equal(a, c)
    with pytest.raises(ValueError, match="neighbouring"):
        model.decode(reference, bases)


def _group(seed: int, frames: int = 9, side: int = 16) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, side, side, 3), dtype=np.uint8)


def test_low_delay_decoding_never_reads_a_later_picture() -> None:
    """A group decoded with low_delay: replacing the pictures after frame t leaves frames
    0..t exactly as they were, for every t. The same replacement in random access changes
    an earlier frame (its later neighbour): so the test can tell. Fails if the decoder hands
    a low-delay frame a later picture."""
    model = _model(2)
    bases = _group(3)
    with torch.no_grad():
        ld = decode_hybrid_group(model, None, bases, 4, torch.device("cpu"), step=2, low_delay=True)
        ra = decode_hybrid_group(model, None, bases, 4, torch.device("cpu"), step=2)
        for t in range(1, len(bases) - 1):
            later = bases.copy()
            later[t + 1 :] = _group(10 + t, len(bases) - t - 1)
            np.testing.assert_array_equal(decode_hybrid_group(model, None, later, 4, torch.device("cpu"), 2, True)[: t + 1], ld[: t + 1])
        later = bases.copy()
        later[4:] = _group(30, len(bases) - 4)
        assert not np.array_equal(decode_hybrid_group(model, None, later, 4, torch.device("cpu"), 2)[:4], ra[:4])


def test_training_reads_the_neighbours_the_decoder_would() -> None:
    """sample_hybrid_pairs' neighbours, on pictures that carry their own frame index: both in
    the frame's clip and closed GOP of the cache (BASE_GOP frames from the clip's start),
    coded pictures of the variant's step (or the frame itself), the latest before and the
    earliest after. Fails if the GOP origin, the step or the order is wrong (training would
    teach other neighbours than the decoder gives)."""
    from imfcodec.training.data import FrameCache
    from imfcodec.training.hybrid import BASE_GOP, sample_hybrid_pairs

    n, starts, lengths = 340, np.array([0, 300]), np.array([300, 40])
    index = np.zeros((n, 8, 8, 3), np.uint8)
    index[..., 0], index[..., 1] = (np.arange(n) % 256)[:, None, None], (np.arange(n) // 256)[:, None, None]
    ref_frame = np.array([0, 120, 260, 299, 300, 330])
    cache = FrameCache(index, index[ref_frame], ref_frame, (ref_frame >= 300).astype(np.int64), starts, lengths, ["a", "b"])
    step = 3

    def frame_of(pictures: torch.Tensor) -> np.ndarray:  # (..., 3, 8, 8) in [0, 1] -> frame index
        values = (pictures[..., :2, 0, 0] * 255).round().long().numpy()
        return values[..., 0] + 256 * values[..., 1]

    seen = 0
    for s in range(20):
        batch = sample_hybrid_pairs(cache, {(8, 50, step): index}, s, 0, 16, 100, seed=7, neighbours=True)
        current, around = frame_of(batch["bases"]), frame_of(batch["neighbours"])
        for t, (before, after) in zip(current, around):
            clip = int(t >= 300)
            gop = starts[clip] + (t - starts[clip]) // BASE_GOP * BASE_GOP
            end = min(gop + BASE_GOP, starts[clip] + lengths[clip])
            coded = set(range(gop, end, step))
            assert before == max([c for c in coded if c < t], default=t)
            assert after == min([c for c in coded if c > t], default=t)
            seen += before != after
    assert seen > 100
    # a model without neighbours gets none, and the same rows (the neighbours take no draw)
    plain = sample_hybrid_pairs(cache, {(8, 50, step): index}, 3, 0, 16, 100, seed=7)
    full = sample_hybrid_pairs(cache, {(8, 50, step): index}, 3, 0, 16, 100, seed=7, neighbours=True)
    assert "neighbours" not in plain and all(torch.equal(plain[k], full[k]) for k in plain)
