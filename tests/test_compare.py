"""imfcodec compare: side-by-side video and PSNR plot against an anchor at the same rate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from imfcodec.bench.compare import LABEL_HEIGHT, compare, side_by_side
from imfcodec.codec.decoder import read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.model.weights import load_weights
from tests.conftest import synthetic_frames, write_clip


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("compare")
    clip = write_clip(folder / "clip.mkv", synthetic_frames(40, 96, 96, seed=3), codec="ffv1", pix_fmt="bgr0")
    imf = folder / "clip.imf"
    encode_video(clip, imf, load_weights(tiny_model_path), EncodeOptions(quality=4, max_keyframe_interval=20))
    return clip, imf


@pytest.mark.parametrize("anchor", ["svtav1", "x265"])
def test_compare_writes_three_labelled_panels_at_the_same_rate(tmp_path: Path, encoded, tiny_model_path: Path, anchor: str) -> None:
    """Fails if a panel is missing or misplaced, a frame is dropped, the plot is not written,
    or the CRF search stops far from imfcodec's rate."""
    clip, imf = encoded
    out = tmp_path / "side.mp4"
    result = compare(clip, imf, out, load_weights(tiny_model_path), anchor=anchor, say=lambda _m: None)
    size = 64  # the tiny model's
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == result.frames == 40
    assert frames[0].shape == (LABEL_HEIGHT + size, 3 * size, 3)
    assert abs(result.anchor_kbps - result.imf_kbps) <= 0.10 * result.imf_kbps
    assert result.keyframes == [g.first_frame for g in read_imf(imf).groups] and len(result.keyframes) > 1
    assert result.imf_psnr.shape == result.anchor_psnr.shape == (40,)
    png = out.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*partial*"))


def test_side_by_side_places_each_panel_under_its_caption() -> None:
    panels = [np.full((32, 32, 3), v, np.uint8) for v in (10, 120, 240)]
    out = side_by_side(panels, ["a", "b", "c"])
    assert out.shape == (LABEL_HEIGHT + 32, 96, 3)
    for i, v in enumerate((10, 120, 240)):
        assert (out[LABEL_HEIGHT:, 32 * i : 32 * (i + 1)] == v).all()
        assert out[:LABEL_HEIGHT, 32 * i : 32 * (i + 1)].max() > 100  # caption text drawn in white on black


def test_compare_cli_errors_are_one_line(tmp_path: Path, encoded, tiny_model_path: Path) -> None:
    clip, imf = encoded
    cmd = [sys.executable, "-m", "imfcodec.cli", "compare", str(clip), str(imf), str(tmp_path / "o.mp4"), "--model", str(tiny_model_path)]
    bad = subprocess.run([*cmd, "--anchor", "vp9"], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown anchor" in bad.stderr
    short = write_clip(tmp_path / "short.mkv", synthetic_frames(10, 96, 96, seed=3), codec="ffv1", pix_fmt="bgr0")
    wrong = subprocess.run([sys.executable, "-m", "imfcodec.cli", "compare", str(short), *cmd[5:]], capture_output=True, text=True)
    assert wrong.returncode == 1 and "is it the clip" in wrong.stderr
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.png").exists()
