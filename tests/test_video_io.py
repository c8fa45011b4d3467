"""imfcodec/codec/video_io.py: inputs of odd sizes and formats, crop modes, writers."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from imfcodec.codec.video_io import VideoInputError, VideoWriter, crop_box, iter_frames, probe, to_square
from imfcodec.errors import ImfcodecError
from tests.conftest import synthetic_frames


def write_raw(path: Path, frames: np.ndarray, pix_fmt: str, codec: str = "ffv1", rate: Fraction = Fraction(30000, 1001)) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=pix_fmt)
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


@pytest.mark.parametrize("pix_fmt", ["yuv444p10le", "yuv422p", "gray", "bgr0"])
def test_odd_sizes_and_formats(tmp_path: Path, pix_fmt: str) -> None:
    frames = synthetic_frames(4, 97, 65)
    path = write_raw(tmp_path / "odd.mkv", frames, pix_fmt)
    info = probe(path)
    assert (info.width, info.height) == (97, 65) and info.fps == Fraction(30000, 1001)
    out = list(iter_frames(path, size=64))
    assert len(out) == 4 and out[0].shape == (64, 64, 3) and out[0].dtype == np.uint8
    # iter_frames keeps one scaler for the video; each frame converted and resized on its own
    # (a fresh scaler every call, as before) must give the same bytes. Fails if a reused
    # scaler carried one frame's state or format into the next.
    with av.open(str(path)) as c:
        alone = [to_square(f.to_ndarray(format="rgb24"), 64) for f in c.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(alone, out, strict=True))


def test_crop_modes() -> None:
    frame = np.zeros((60, 100, 3), np.uint8)
    frame[:, 20:80] = 200  # the centred 60×60 square is bright
    assert crop_box(100, 60) == (20, 0, 60, 60)
    assert to_square(frame, 60, "center").min() == 200
    padded = to_square(frame, 100, "pad")
    assert padded.shape == (100, 100, 3) and padded[0, 50].max() == 0 and padded[50, 50].min() == 200
    with pytest.raises(ValueError):
        to_square(frame, 64, "stretch")


def test_max_frames_and_errors(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "a.mkv", synthetic_frames(6, 64, 64), "bgr0")
    assert len(list(iter_frames(path, max_frames=3))) == 3
    with pytest.raises(VideoInputError, match="a folder with no images"):
        probe(tmp_path)


def test_image_sequences(tmp_path: Path) -> None:
    from imfcodec.codec.video_io import write_png

    frames = synthetic_frames(5, 48, 32, seed=3)
    folder = tmp_path / "shots [1]"  # glob characters in the folder name must not matter
    folder.mkdir()
    for i, f in enumerate(frames):
        write_png(folder / f"{i:04d}.png", f)
    for source in (folder, folder / "%04d.png"):
        info = probe(source, sequence_fps=Fraction(30000, 1001))
        assert (info.width, info.height, info.fps, info.has_audio) == (48, 32, Fraction(30000, 1001), False)
        assert np.array_equal(np.stack(list(iter_frames(source))), frames)  # PNG: lossless, in name order
    (folder / "extra.jpg").write_bytes(b"")
    with pytest.raises(VideoInputError, match="several kinds"):
        probe(folder)
    with pytest.raises(VideoInputError, match="no image matches"):
        probe(folder / "%06d.png")
    with pytest.raises(VideoInputError, match="no such folder"):
        probe(tmp_path / "missing" / "%04d.png")


def test_writer_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ImfcodecError, match="unsupported output extension"):
        VideoWriter(tmp_path / "x.gif", Fraction(25), 64, 64)


def rotate_mp4(src: Path, dst: Path, matrix: tuple[int, ...]) -> Path:
    """Copy of an mp4 whose track header carries `matrix` (9 × 32-bit, 16.16 / 2.30 fixed
    point) in place of the identity: how phones mark portrait video. PyAV cannot write a
    display matrix, so the box is patched in place."""
    import struct

    data = bytearray(src.read_bytes())
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    at = data.find(identity, data.find(b"tkhd"))
    assert at > 0
    data[at : at + 36] = struct.pack(">9I", *matrix)
    dst.write_bytes(bytes(data))
    return dst


# Display matrices and the turn ffmpeg's own autorotation applies for them (checked with
# the ffmpeg command line): np.rot90's k, counter-clockwise quarter turns.
_CLOCKWISE = (0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000)
_COUNTER_CLOCKWISE = (0, 0xFFFF0000, 0, 0x10000, 0, 0, 0, 0, 0x40000000)


@pytest.mark.parametrize(("matrix", "k"), [(_CLOCKWISE, -1), (_COUNTER_CLOCKWISE, 1)])
def test_rotation_metadata_is_applied(tmp_path: Path, matrix: tuple[int, ...], k: int) -> None:
    frames = np.zeros((3, 32, 64, 3), np.uint8)
    frames[:, :8, :16] = 255  # a white block in the top-left corner tells the turn apart
    plain = write_raw(tmp_path / "plain.mkv", frames, "yuv444p")
    # mkv has no track matrix; remux the lossless frames into mp4 first.
    mp4 = tmp_path / "plain.mp4"
    with av.open(str(plain)) as src, av.open(str(mp4), "w") as out:
        stream = out.add_stream("libx264", rate=10, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv444p"
        for frame in src.decode(video=0):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    rotated = rotate_mp4(mp4, tmp_path / "rotated.mp4", matrix)
    info = probe(rotated)
    assert (info.width, info.height) == (32, 64)
    got = np.stack(list(iter_frames(rotated)))
    expected = np.rot90(frames, k=k, axes=(1, 2))
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).max() <= 2


def _variable_rate_clip(path: Path, intervals_ms: list[int]) -> list[int]:
    """A clip whose frame i is grey level i*8, shown at the given intervals: its pts in ms."""
    pts, t = [], 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, gap in enumerate(intervals_ms):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 8, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
            pts.append(t)
            t += gap
        out.mux(stream.encode(None))
    return pts


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_variable_frame_rate_keeps_its_duration(tmp_path: Path, suffix: str) -> None:
    """Frames are placed by their timestamps at the reported rate: the clip keeps its length
    and each frame shows what the source showed at that time. Fails if frames are read one
    per slot whatever their timestamps (a 3.6 s clip came back as 1.3 s from .mkv, 2.5 s
    from .mp4)."""
    intervals = [40, 120, 40, 200, 40, 40, 400, 40] * 3
    path = tmp_path / f"vfr{suffix}"
    pts = _variable_rate_clip(path, intervals)
    fps = probe(path).fps
    frames = list(iter_frames(path))
    duration = sum(intervals) / 1000
    assert abs(len(frames) / fps - duration) <= 2 / fps
    for k in range(0, len(frames), 7):  # slot k shows the last source frame at or before k/fps (±half a slot)
        t_ms = 1000 * k / fps
        shown = max(i for i, p in enumerate(pts) if p <= t_ms + 500 / fps)
        assert round(frames[k][..., 0].mean() / 8) == shown, k


def test_constant_rate_reads_every_frame_once(tmp_path: Path) -> None:
    path = tmp_path / "cfr.mp4"
    _variable_rate_clip(path, [40] * 30)
    frames = list(iter_frames(path))
    assert len(frames) == 30 and [round(f[..., 0].mean() / 8) for f in frames] == list(range(30))
