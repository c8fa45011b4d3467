"""Issue-style table of awkward inputs to `encode` (docs/ROBUSTNESS.md lists each with its
outcome): each ends in a correct file or in one line and a non-zero exit, with nothing
left at the output path."""

from __future__ import annotations

from pathlib import Path

import pytest

from imfcodec.codec.decoder import read_imf
from tests.conftest import synthetic_frames, write_clip
from tests.test_cli import assert_one_line_error, run


def _encodes(tmp_path: Path, clip: Path, model: Path, frames: int, out_name: str = "o.imf") -> Path:
    out = tmp_path / out_name
    result = run("encode", clip, out, "--model", model, "--quiet", "--no-audio")
    assert result.exit_code == 0, result.output
    assert read_imf(out).frame_count == frames
    decoded = tmp_path / "d.mkv"
    assert run("decode", out, decoded, "--model", model, "--quiet").exit_code == 0
    assert decoded.is_file()
    return out


@pytest.mark.parametrize(
    "width, height, frames, codec, pix_fmt",
    [
        (64, 64, 1, "ffv1", "bgr0"),  # a 1-frame video
        (1, 1, 3, "ffv1", "bgr0"),
        (8, 8, 3, "ffv1", "bgr0"),
        (15, 17, 3, "ffv1", "bgr0"),  # odd sides
        (4000, 200, 2, "ffv1", "bgr0"),  # a strip
        (3840, 2160, 2, "libx264", "yuv420p"),  # 4K, read and squared frame by frame
        (64, 64, 3, "ffv1", "gray"),  # grayscale
        (64, 64, 3, "ffv1", "yuv420p10le"),  # 10-bit
        (64, 64, 3, "ffv1", "yuv444p"),
    ],
)
def test_awkward_videos_encode(
    tmp_path: Path, tiny_model_path: Path, width: int, height: int, frames: int, codec: str, pix_fmt: str
) -> None:
    clip = write_clip(
        tmp_path / "in.mkv" if codec == "ffv1" else tmp_path / "in.mp4",
        synthetic_frames(frames, width, height, seed=2),
        codec=codec,
        pix_fmt=pix_fmt,
    )
    _encodes(tmp_path, clip, tiny_model_path, frames)


def test_spaces_and_unicode_in_paths(tmp_path: Path, tiny_model_path: Path) -> None:
    folder = tmp_path / "my clips – été"
    folder.mkdir()
    clip = write_clip(folder / "a b ü.mp4", synthetic_frames(3, 64, 64, seed=2))
    _encodes(folder, clip, tiny_model_path, 3, out_name="out put é.imf")


def test_an_empty_file(tmp_path: Path, tiny_model_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_one_line_error(run("encode", empty, tmp_path / "o.imf", "--model", tiny_model_path), "not a readable video")
    assert not list(tmp_path.glob("*o.imf*"))


def test_output_that_is_a_folder(tmp_path: Path, tiny_model_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    (tmp_path / "out.imf").mkdir()
    assert_one_line_error(run("encode", clip, tmp_path / "out.imf", "--model", tiny_model_path), "out.imf")
    assert (tmp_path / "out.imf").is_dir() and not list((tmp_path / "out.imf").iterdir())
    assert not list(tmp_path.glob(".*partial*"))


def test_output_equal_to_input(tmp_path: Path, tiny_model_path: Path) -> None:
    """The input is never overwritten: an .mp4 output is refused for its name, and a video
    that happens to be named .imf is recognised as the input itself."""
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    before = clip.read_bytes()
    assert_one_line_error(run("encode", clip, clip, "--model", tiny_model_path), "must end in .imf")
    named = clip.rename(tmp_path / "a.imf")
    assert_one_line_error(run("encode", named, tmp_path / "." / "a.imf", "--model", tiny_model_path), "is the input")
    assert named.read_bytes() == before


def test_unwritable_output(tmp_path: Path, tiny_model_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    result = run("encode", clip, "/proc/imfcodec-test.imf", "--model", tiny_model_path)  # not writable, even by root
    assert_one_line_error(result, "imfcodec-test.imf")


def test_a_non_model_file_as_model(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    text = tmp_path / "model.safetensors"
    text.write_text("not weights")
    assert_one_line_error(run("encode", clip, tmp_path / "o.imf", "--model", text), "not a safetensors file")
    assert not (tmp_path / "o.imf").exists()


@pytest.mark.parametrize("quality", ["0", "9"])  # a non-number is a parse error: test_cli's subprocess test
def test_quality_out_of_range(tmp_path: Path, tiny_model_path: Path, quality: str) -> None:
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    result = run("encode", clip, tmp_path / "o.imf", "--model", tiny_model_path, "--quality", quality)
    assert result.exit_code != 0 and not (tmp_path / "o.imf").exists()
    assert_one_line_error(result, "--quality")


def test_decode_never_deletes_a_users_folder(tmp_path: Path, tiny_model_path: Path) -> None:
    """`decode a.imf photos` where photos/ holds the user's files is refused, and the files
    stay (an earlier version removed the folder and exited 0)."""
    clip = write_clip(tmp_path / "a.mp4", synthetic_frames(3, 64, 64, seed=2))
    out = _encodes(tmp_path, clip, tiny_model_path, 3)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"precious")
    assert_one_line_error(run("decode", out, photos, "--model", tiny_model_path), "photos")
    assert (photos / "holiday.jpg").read_bytes() == b"precious" and len(list(photos.iterdir())) == 1


def test_resilient_decode_conceals_a_damaged_group(tmp_path: Path, tiny_model_path: Path) -> None:
    """Without --resilient a damaged group stops the decode with its chunk and offset; with
    it, every other group is decoded, the damaged group's frames repeat the last good
    frame, and each damage is reported. A truncated file decodes up to the cut."""

    import av
    import numpy as np

    clip = write_clip(tmp_path / "a.mkv", synthetic_frames(12, 64, 64, seed=2), codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "a.imf"
    assert (
        run("encode", clip, out, "--model", tiny_model_path, "--max-keyframe-interval", "4", "--refresh-psnr", "0", "--quiet").exit_code
        == 0
    )
    good = tmp_path / "good.mkv"
    assert run("decode", out, good, "--model", tiny_model_path, "--quiet").exit_code == 0
    data = bytearray(out.read_bytes())
    groups = [c for c in read_imf(out).chunks if c.type == "GRUP"]
    assert len(groups) == 3
    data[groups[1].offset + 8 + groups[1].length // 2] ^= 0xFF  # the middle group's payload, CRC now wrong
    bad = tmp_path / "bad.imf"
    bad.write_bytes(bytes(data))
    assert_one_line_error(
        run("decode", bad, tmp_path / "x.mkv", "--model", tiny_model_path),
        f"CRC mismatch in chunk #2 (GRUP) at byte offset {groups[1].offset}",
    )
    result = run("decode", bad, tmp_path / "r.mkv", "--model", tiny_model_path, "--resilient", "--quiet")
    assert result.exit_code == 0 and "CRC mismatch" in result.output and "frames 4-7 concealed" in " ".join(result.output.split())

    def frames(path: Path) -> list:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    want, got = frames(good), frames(tmp_path / "r.mkv")
    assert len(got) == 12
    assert all(np.array_equal(got[i], want[i]) for i in (0, 1, 2, 3, 8, 9, 10, 11))
    assert all(np.array_equal(got[i], want[3]) for i in (4, 5, 6, 7))

    cut = tmp_path / "cut.imf"
    cut.write_bytes(out.read_bytes()[: groups[2].offset + 20])
    result = run("decode", cut, tmp_path / "c.mkv", "--model", tiny_model_path, "--resilient", "--quiet")
    assert result.exit_code == 0 and "truncated" in result.output
    got = frames(tmp_path / "c.mkv")
    assert len(got) == 12 and np.array_equal(got[7], want[7]) and np.array_equal(got[11], want[7])
