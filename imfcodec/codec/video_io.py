"""Reading and writing video through PyAV: square crop/resize, timing, audio.

Frames are streamed: nothing here holds a whole video in memory.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .. import atomic
from ..errors import ConfigError, ImfcodecError

# FFmpeg's own log stays off, as PyAV leaves it: failures reach the user as our one-line
# errors. No Python log callback is installed (av.logging.set_level): an FFmpeg thread
# waiting in it for the GIL while the main thread frees the codec holding the GIL hung
# encodes that stopped reading early (PyAV issues 751 and 367).


class VideoInputError(ImfcodecError):
    """The input cannot be read as video; the message is one line for the user."""


@dataclass(frozen=True)
class VideoInfo:
    width: int  # displayed size, after rotation
    height: int
    fps: Fraction
    frames: int | None  # container's estimate; None when unknown
    has_audio: bool


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square (x, y, w, h)."""
    side = min(width, height)
    return ((width - side) // 2, (height - side) // 2, side, side)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SEQUENCE_FPS = Fraction(25)  # image sequences carry no timing


def _open(path: str | Path, sequence_fps: Fraction = SEQUENCE_FPS) -> av.container.InputContainer:
    """Open a video file, an image sequence named by a printf pattern (`frames/%05d.png`),
    or a folder of images (read in name order: zero-padded names keep their order)."""
    path = Path(path)
    image2: dict[str, str] = {"framerate": str(sequence_fps)}
    sequence: str | None = None  # what the image2 demuxer opens, for image sequences
    if "%" in path.name:
        if not path.parent.is_dir():
            raise VideoInputError(f"{path.parent}: no such folder")
        sequence = str(path)
    elif path.is_dir():
        suffixes = {p.suffix for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
        if not suffixes:
            raise VideoInputError(f"{path}: a folder with no images ({', '.join(IMAGE_SUFFIXES)})")
        if len(suffixes) > 1:
            raise VideoInputError(f"{path}: images of several kinds ({', '.join(sorted(suffixes))}); keep one kind per folder")
        sequence = str(Path(glob.escape(str(path))) / f"*{suffixes.pop()}")
        image2["pattern_type"] = "glob"
    elif not path.exists():
        raise VideoInputError(f"{path}: no such file")
    try:
        if sequence is not None:
            return av.open(sequence, "r", format="image2", options=image2)
        return av.open(str(path), "r")
    except av.error.EOFError:
        raise VideoInputError(f"{path}: the video has no frames (the file ends before any data)") from None
    except av.error.FileNotFoundError:
        raise VideoInputError(f"{path}: no image matches this pattern") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoInputError(f"{path}: not a readable video ({exc.__class__.__name__})") from None


def _rotation(stream: av.video.stream.VideoStream, frame: av.VideoFrame | None = None) -> int:
    rot = getattr(frame, "rotation", 0) if frame is not None else 0
    return int(round(rot)) % 360


def frame_rate(stream: av.VideoStream) -> Fraction:
    """The constant rate frames are read at (iter_frames resamples to it): the container's
    average, else FFmpeg's guess, else 25."""
    return Fraction(stream.average_rate or stream.guessed_rate or Fraction(25, 1))


def probe(path: str | Path, sequence_fps: Fraction = SEQUENCE_FPS) -> VideoInfo:
    """Size, frame rate and audio presence of `path`'s first video stream (`sequence_fps`:
    the frame rate given to an image sequence)."""
    with _open(path, sequence_fps) as container:
        if not container.streams.video:
            raise VideoInputError(f"{path}: no video stream")
        stream = container.streams.video[0]
        fps = frame_rate(stream)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise VideoInputError(f"{path}: cannot decode video ({exc})") from None
        if first is None:
            raise VideoInputError(f"{path}: the video has no frames")
        rotation = _rotation(stream, first)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        return VideoInfo(
            width=w,
            height=h,
            fps=Fraction(fps),
            frames=stream.frames or _frames_from_duration(stream, container, fps),
            has_audio=bool(container.streams.audio),
        )


def _frames_from_duration(stream: Any, container: Any, fps: Fraction) -> int | None:
    """The frame count a container without one implies (Matroska, raw streams): its
    duration × fps, rounded; None where it gives no duration either."""
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / 1_000_000  # av.time_base
    else:
        return None
    return max(1, round(seconds * float(fps))) if seconds > 0 else None


def to_square(rgb: np.ndarray, size: int, mode: str = "center", scaler: VideoReformatter | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: centre crop (or black pad) then area resize
    (by `scaler`, kept across the frames of a video: a new one per frame is most of the cost)."""
    h, w, _ = rgb.shape
    if mode == "center":
        x, y, s, _ = crop_box(w, h)
        square = rgb[y : y + s, x : x + s]
    elif mode == "pad":
        s = max(h, w)
        square = np.zeros((s, s, 3), dtype=np.uint8)
        square[(s - h) // 2 : (s - h) // 2 + h, (s - w) // 2 : (s - w) // 2 + w] = rgb
    else:
        raise ConfigError(f"unknown crop mode {mode!r}")
    if square.shape[0] == size:
        return np.ascontiguousarray(square)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(square), format="rgb24")
    scaler = scaler or VideoReformatter()
    return scaler.reformat(frame, width=size, height=size, interpolation="AREA" if square.shape[0] > size else "BICUBIC").to_ndarray()


def iter_frames(
    path: str | Path, size: int | None = None, crop: str = "center", max_frames: int | None = None, sequence_fps: Fraction = SEQUENCE_FPS
) -> Iterator[np.ndarray]:
    """Yield RGB frames (H, W, 3) uint8 in display order, rotated upright; with `size`,
    squared and resized to (size, size, 3). Any pixel format or bit depth ffmpeg decodes;
    videos, image-sequence patterns and folders of images alike (see `_open`).

    Frames come at the constant rate `probe` reports (the container's average), placed by
    their timestamps as ffmpeg's fps filter places them: each goes to the slot nearest its
    time, a slot no frame reaches repeats the one before, and of two frames on one slot the
    later is kept. A constant-rate clip is read frame for frame; a variable-rate one keeps
    its duration (and its sync with the audio) at the price of repeated and dropped frames."""
    with _open(path, sequence_fps) as container:
        if not container.streams.video:
            raise VideoInputError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = frame_rate(stream)
        to_rgb, resize = VideoReformatter(), VideoReformatter()  # one scaler each for the whole video
        count = 0
        pending: tuple[int, np.ndarray] | None = None  # (slot, frame) not yet yielded
        first_pts: int | None = None
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time_base is None:
                    slot = pending[0] + 1 if pending else 0  # no timing: one slot per frame
                else:
                    first_pts = frame.pts if first_pts is None else first_pts
                    slot = max(round((frame.pts - first_pts) * frame.time_base * rate), pending[0] if pending else 0)
                rgb: np.ndarray = to_rgb.reformat(frame, format="rgb24").to_ndarray()
                rot = _rotation(stream, frame)
                if rot:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=rot // 90))
                image = to_square(rgb, size, crop, resize) if size else rgb
                if pending is not None and slot > pending[0]:
                    for _ in range(slot - pending[0]):  # the pending frame, repeated up to this one's slot
                        yield pending[1]
                        count += 1
                        if max_frames is not None and count >= max_frames:
                            return
                pending = (slot, image)
        except av.FFmpegError as exc:
            if count == 0 and pending is None:
                raise VideoInputError(f"{path}: cannot decode video ({exc})") from None
            # A damaged tail: keep what decoded, as players do.
        if pending is not None:
            yield pending[1]
            count += 1
        if count == 0:
            raise VideoInputError(f"{path}: the video has no frames")


OUTPUT_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".y4m": "yuv4mpegpipe"}  # suffix -> muxer


class VideoWriter:
    """Write (S, S, 3) uint8 frames by extension: .mp4 (H.264 CRF 14, yuv420p), .mkv (FFV1,
    lossless RGB), .y4m (yuv444p), or a folder (PNG per frame, when `path` has no suffix).

    `suffix` chooses the format when `path` is a temporary name (imfcodec.atomic); default:
    `path`'s own suffix. A folder must exist already. `audio_window`: the stored audio's
    (start, end) in seconds that goes with these frames (end None: to its end).
    """

    def __init__(
        self,
        path: str | Path,
        fps: Fraction,
        width: int,
        height: int,
        audio: tuple[dict[str, Any], Sequence[tuple[int, int, bytes]]] | None = None,
        suffix: str | None = None,
        audio_window: tuple[float, float | None] = (0.0, None),
    ) -> None:
        self.path = Path(path)
        self.index = 0
        self.container: av.container.OutputContainer | None = None
        suffix = (self.path.suffix if suffix is None else suffix).lower()
        if suffix == "":
            if not self.path.is_dir():
                raise VideoInputError(f"{self.path}: no such folder")
            return
        if suffix not in OUTPUT_FORMATS:
            raise VideoInputError(f"{self.path}: unsupported output extension {suffix!r} (use .mp4, .mkv, .y4m or a folder)")
        self.container = av.open(str(self.path), "w", format=OUTPUT_FORMATS[suffix])
        if suffix in (".mp4", ".mov"):
            self.stream = self.container.add_stream("libx264", rate=fps)
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": "14", "preset": "medium"}
        elif suffix == ".mkv":
            self.stream = self.container.add_stream("ffv1", rate=fps)
            self.stream.pix_fmt = "bgr0"
        else:
            self.stream = self.container.add_stream("rawvideo", rate=fps)
            self.stream.pix_fmt = "yuv444p"
        self.stream.width, self.stream.height = width, height
        self.stream.time_base = Fraction(1, 1) / fps
        self.audio = None
        if audio is not None and suffix in (".mp4", ".mkv", ".mov"):
            from .audio import AudioMuxer

            self.audio = AudioMuxer(self.container, *audio, suffix == ".mkv", *audio_window)

    def write(self, rgb: np.ndarray) -> None:
        if self.container is None:
            write_png(self.path / f"{self.index:06d}.png", rgb)
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.index
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        self.index += 1

    def close(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.write_all()
            self.container.close()
            self.container = None

    def close_quietly(self) -> None:
        """Release the output after a failure; the caller removes the partial file."""
        if self.container is not None:
            try:
                self.container.close()
            except Exception:
                pass
            self.container = None


def write_png(path: Path, rgb: np.ndarray) -> None:
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height = rgb.shape[1], rgb.shape[0]
    ctx.pix_fmt = "rgb24"
    ctx.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    data = b"".join(bytes(p) for p in list(ctx.encode(frame)) + list(ctx.encode(None)))
    atomic.write_bytes(path, data)
