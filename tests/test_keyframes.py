"""imfcodec/codec/keyframes.py and color.py: intra codecs and the integer colour conversion."""

from __future__ import annotations

import numpy as np
import pytest

from imfcodec.codec.color import rgb_to_yuv420, yuv420_to_rgb
from imfcodec.codec.keyframes import CODECS, KeyframeCodecError, get_codec
from tests.conftest import synthetic_frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_color_round_trip() -> None:
    frame = synthetic_frames(1, 64, 64)[0]
    y, u, v = rgb_to_yuv420(frame)
    assert y.shape == (64, 64) and u.shape == (32, 32)
    assert psnr(yuv420_to_rgb(y, u, v), frame) > 30
    gray = np.full((8, 8, 3), 128, np.uint8)
    np.testing.assert_array_equal(yuv420_to_rgb(*rgb_to_yuv420(gray)), gray)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_codec_round_trip(name: str) -> None:
    codec = get_codec(name)
    frame = synthetic_frames(1, 64, 64)[0]
    low, high = codec.encode(frame, 1), codec.encode(frame, 8)
    assert len(low) < len(high)
    decoded = codec.decode(high)
    assert decoded.shape == frame.shape and decoded.dtype == np.uint8
    assert psnr(decoded, frame) > psnr(codec.decode(low), frame) > 20
    # Deterministic on both sides.
    assert codec.encode(frame, 5) == codec.encode(frame, 5)
    np.testing.assert_array_equal(codec.decode(high), decoded)


def test_bad_payload_and_codec() -> None:
    with pytest.raises(KeyframeCodecError):
        get_codec("av1").decode(b"\x00garbage")
    with pytest.raises(KeyframeCodecError):
        get_codec("jpeg2000")
