"""Frames the base layer skips, drawn by motion (codec/hybrid/motion_fill.py), the encoder's
choice between that and the blend (first_pass.choose_fill), and the format's mark for it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.codec.hybrid.base_layer import fill_skipped
from imfcodec.frames import psnr_per_frame
from tests.conftest import synthetic_frames, write_clip


def test_motion_fill_draws_a_moving_disc_where_the_blend_ghosts() -> None:
    """A disc crossing a textured background, every 4th frame kept: the skipped frames drawn
    by motion are within about 38 dB of the truth where the blend (two half-strength discs)
    is under 30 (measured 38.8 / 29.8 at 64²; the margin asked, 5 dB, leaves room for another
    OpenCV's flow). Fails if the flow's direction or the time weights are wrong (the disc
    lands in the wrong place, worse than the blend), or if a coded picture is altered."""
    frames = synthetic_frames(25, 64, 64)
    coded = frames[::4]
    skipped = np.arange(len(frames)) % 4 != 0
    motion = fill_skipped(coded, len(frames), 4, "motion")
    linear = fill_skipped(coded, len(frames), 4, "linear")
    np.testing.assert_array_equal(motion[~skipped], frames[~skipped])
    assert psnr_per_frame(motion, frames)[skipped].mean() > psnr_per_frame(linear, frames)[skipped].mean() + 5
    # After the last coded picture every fill repeats it; a step of 1 has nothing to fill.
    np.testing.assert_array_equal(fill_skipped(coded[:6], 23, 4, "motion")[20:], np.repeat(coded[5:6], 3, axis=0))
    np.testing.assert_array_equal(fill_skipped(frames, 25, 1, "motion"), frames)


def test_the_encoder_measures_the_fill_and_marks_the_file(tmp_path: Path, untrained) -> None:
    """The encoder fills by motion where it measures that better on the first group (a moving
    disc) and blends where it is not (a still picture: both fills are the same), and a file
    that names the motion fill is 1.3, every other as before. Fails if the choice is fixed,
    if the header does not carry it, or if a 1.2 reader could take a 1.3 file for its own."""
    moving = synthetic_frames(24, 256, 256, seed=2)
    still = np.repeat(moving[:1], 24, axis=0)
    options = EncodeOptions(base_size=64, base_crf=40, base_step=4, audio=False, max_keyframe_interval=24)
    for frames, fill, minor in ((moving, "motion", 3), (still, "linear", 2)):
        source = write_clip(tmp_path / f"{fill}.mkv", frames, codec="ffv1", pix_fmt="bgr0")
        encode_video(source, tmp_path / f"{fill}.imf", untrained, options)
        imf = read_imf(tmp_path / f"{fill}.imf")
        assert (imf.header["base_fill"], imf.version) == (fill, (1, minor))
        decoded = np.stack(list(iter_decoded_frames(imf, untrained)))
        assert decoded.shape == frames.shape
    low_delay = EncodeOptions(base_size=64, base_crf=40, base_step=4, audio=False, low_delay=True)
    encode_video(tmp_path / "motion.mkv", tmp_path / "ld.imf", untrained, low_delay)
    assert read_imf(tmp_path / "ld.imf").header["base_fill"] == "repeat"
