"""imfcodec/codec/base_layer.py: the hybrid mode's low-resolution AV1 layer."""

from __future__ import annotations

import av
import numpy as np
import pytest

from imfcodec.bitstream.varint import encode_varint
from imfcodec.codec.hybrid.base_layer import (
    TEMPORAL_DELIMITER,
    BaseLayerError,
    decode_base,
    downscale,
    encode_base,
    encode_bases,
    fill_skipped,
    split_packets,
)
from imfcodec.frames import psnr_per_frame
from tests.conftest import synthetic_frames


@pytest.fixture(scope="module")
def base_frames() -> np.ndarray:
    return downscale(synthetic_frames(12, 256, 256, seed=7), 64)


@pytest.mark.parametrize("side", [64, 96, 128])
def test_downscale_gives_what_each_frame_scaled_alone_gives(side: int) -> None:
    """downscale keeps one scaler for all its frames (ten times faster): the bytes must be
    those of each frame scaled by a scaler of its own, what the files and the training
    caches were made with. Fails if the shared scaler's state leaked between frames."""
    frames = synthetic_frames(5, 256, 256, seed=3)
    alone = [
        av.VideoFrame.from_ndarray(f, format="rgb24").reformat(width=side, height=side, interpolation="AREA").to_ndarray() for f in frames
    ]
    assert np.array_equal(downscale(frames, side), np.stack(alone))


@pytest.mark.parametrize("low_delay", [False, True])
def test_round_trip_is_closed_and_in_display_order(base_frames: np.ndarray, low_delay: bool) -> None:
    payload = encode_base(base_frames, crf=40, low_delay=low_delay)
    decoded = decode_base(payload, len(base_frames))
    assert decoded.shape == base_frames.shape and decoded.dtype == np.uint8
    # Display order: each decoded frame is closest to its own source frame (the disc moves).
    psnr = np.array([[psnr_per_frame(d[None], s[None])[0] for s in base_frames] for d in decoded])
    assert (psnr.argmax(axis=1) == np.arange(len(base_frames))).all()
    assert psnr.diagonal().mean() > 28
    # The decoder's frames are a function of the bytes alone: the encoder can rely on them.
    np.testing.assert_array_equal(decode_base(payload, len(base_frames)), decoded)
    assert encode_base(base_frames, crf=40, low_delay=low_delay) == payload


def test_lower_crf_spends_more_bits(base_frames: np.ndarray) -> None:
    assert len(encode_base(base_frames, crf=30)) > len(encode_base(base_frames, crf=55))


def test_hostile_payloads_are_format_errors(base_frames: np.ndarray) -> None:
    payload = encode_base(base_frames, crf=50)
    with pytest.raises(BaseLayerError, match="holds"):
        decode_base(payload, len(base_frames) + 1)
    with pytest.raises(BaseLayerError, match="packets"):
        split_packets(b"\xff\xff\x03" + payload[1:])  # a count far beyond the bytes present
    with pytest.raises(BaseLayerError):
        decode_base(payload[: len(payload) // 2], len(base_frames))
    with pytest.raises(BaseLayerError, match="crf"):
        encode_base(base_frames, crf=70)


def test_skipped_frames_are_filled_by_distance_in_integers() -> None:
    """Step 3, linear: frame 3k+j = round(((3-j)·p[k] + j·p[k+1]) / 3), half up; after the last
    coded picture, repeats; "repeat" shows each picture three times. Breaks if the weights
    are swapped, rounding changes (encoder and decoder would drift apart) or a frame is lost."""
    coded = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 10, 255)])
    linear = fill_skipped(coded, 8, 3, "linear")[:, 0, 0, 0].tolist()
    assert linear == [0, 3, 7, 10, 92, 173, 255, 255]
    assert fill_skipped(coded, 8, 3, "repeat")[:, 0, 0, 0].tolist() == [0, 0, 0, 10, 10, 10, 255, 255]
    np.testing.assert_array_equal(fill_skipped(coded, 3, 1, "linear"), coded)
    with pytest.raises(BaseLayerError, match="unknown base fill"):
        fill_skipped(coded, 3, 1, "cubic")


@pytest.mark.parametrize("low_delay", [False, True])
def test_temporal_delimiters_are_dropped_and_either_form_decodes(base_frames: np.ndarray, low_delay: bool) -> None:
    """The stored packets carry no temporal delimiter OBU (2 bytes a frame), and a payload
    with them (files written before) decodes to the same pictures. Fails if the delimiters
    come back or if dropping them changes a decoded sample."""
    payload = encode_base(base_frames, 50, low_delay)
    packets = split_packets(payload)
    assert not any(p.startswith(TEMPORAL_DELIMITER) for p in packets)
    with_delimiters = encode_varint(len(packets)) + b"".join(encode_varint(len(p) + 2) + TEMPORAL_DELIMITER + p for p in packets)
    assert len(with_delimiters) == len(payload) + 2 * len(packets)
    np.testing.assert_array_equal(decode_base(payload, len(base_frames)), decode_base(with_delimiters, len(base_frames)))


def test_side_by_side_encodes_are_the_encodes_one_at_a_time(base_frames: np.ndarray) -> None:
    """encode_bases (the first pass's floor checks, two children at a time) gives each job
    the bytes encode_base gives it alone, in the jobs' order; a CRF outside 1..63 is refused
    before anything forks. Fails if results come back in finishing order or a child codes
    something else."""
    jobs = [(base_frames[::k], crf, ld) for k, crf, ld in ((1, 63, False), (2, 50, False), (3, 63, True))]
    assert encode_bases(jobs, 2) == [encode_base(*job) for job in jobs]
    with pytest.raises(BaseLayerError, match="1..63"):
        encode_bases([(base_frames, 63, False), (base_frames, 64, False)], 2)
