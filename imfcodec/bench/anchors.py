"""Conventional anchors through PyAV, one GOP each: low delay (no B-frames), as EVALUATION.md
fixes them, and SVT-AV1 also in its default random-access structure (`-ra`), the one the
hybrid's offline files use."""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
from av.bitstream import BitStreamFilterContext

from ..codec.pictures import resize_frames
from ..watchdog import Hung, call_with_time_limit

# name -> (encoder, options, CRF sweep used by default)
ANCHORS: dict[str, tuple[str, dict[str, str], tuple[int, ...]]] = {
    "x264": ("libx264", {"preset": "veryslow", "x264-params": "bframes=0:keyint=infinite:scenecut=0"}, (51, 45, 39, 33, 27)),
    "x265": (
        "libx265",
        {"preset": "medium", "x265-params": "bframes=0:keyint=-1:scenecut=0:info=0:log-level=none"},
        (51, 45, 39, 33, 28),
    ),
    # pred-struct=1: low delay, as for the other anchors (SVT-AV1's default is random access).
    "svtav1": ("libsvtav1", {"preset": "4", "svtav1-params": "keyint=-1:pred-struct=1"}, (63, 57, 51, 45, 39)),
    "svtav1-ra": ("libsvtav1", {"preset": "4", "svtav1-params": "keyint=-1"}, (63, 57, 51, 45, 39)),
}


@dataclass
class AnchorResult:
    codec: str
    crf: int
    es_bytes: int  # video packets as stored (x264: SEI NAL units removed), extradata included
    file_bytes: int  # the mp4 file
    frames: np.ndarray  # decoded, (T, 256, 256, 3) uint8
    encode_fps: float
    decode_fps: float


def stored_video_bytes(path: Path, drop_sei: bool) -> int:
    """Bytes of the video packets stored in `path`; with `drop_sei`, H.264 SEI NAL units
    (x264's settings banner, not picture data) removed by FFmpeg's filter_units filter."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        bsf = BitStreamFilterContext("filter_units=remove_types=6", stream) if drop_sei else None
        total = 0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            total += sum(q.size for q in bsf.filter(packet)) if bsf else packet.size
        if bsf:
            total += sum(q.size for q in bsf.filter(None))
    return total


def encode_anchor(
    name: str, reference: np.ndarray, fps: Fraction, crf: int, workdir: Path, side: int | None = None, frame_step: int = 1
) -> AnchorResult:
    """Encode `reference` (T, S, S, 3) with anchor `name` (an ANCHORS key) at `crf`; decode
    and, for low-res variants, upscale back to S and repeat frames; returns rates and
    decoded frames."""
    encoder, options, _ = ANCHORS[name]
    size = reference.shape[1]
    frames = reference[::frame_step]
    if side is not None and side != size:
        frames = resize_frames(frames, side, "BICUBIC")
    rate = fps / frame_step
    label = name if side is None else f"{name}-{side}-{'full' if frame_step == 1 else 'half'}"
    path = workdir / f"{label}-crf{crf}.mp4"
    t0 = time.time()
    with av.open(str(path), "w") as out:
        stream = cast(av.VideoStream, out.add_stream(encoder, rate=rate))
        stream.width = stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {**options, "crf": str(crf)}
        # Frame threads, as the ffmpeg command line uses: PyAV's default slice threading
        # splits each x264 frame into slices and costs it up to a third more bits.
        stream.codec_context.thread_type = "FRAME"
        stream.codec_context.thread_count = 0
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
        extradata = len(stream.codec_context.extradata or b"")
    encode_fps = len(frames) / (time.time() - t0)
    t0 = time.time()
    with av.open(str(path)) as c:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    decode_fps = len(decoded) / (time.time() - t0)
    if decoded.shape[1] != size:
        decoded = resize_frames(decoded, size, "BICUBIC")
    if frame_step > 1:
        decoded = np.repeat(decoded, frame_step, axis=0)[: len(reference)]
    es = stored_video_bytes(path, drop_sei=name == "x264") + extradata
    return AnchorResult(label, crf, es, path.stat().st_size, decoded, encode_fps, decode_fps)


class AnchorTimeout(Hung):
    pass


def anchor_time_limit(frames: int) -> float:
    """Seconds an anchor encode and decode of `frames` frames may take before it counts as
    hung: far above the slowest measured (full-size SVT-AV1 at preset 4, about 0.2 s a frame
    on two shared cores)."""
    return 120.0 + 2.0 * frames


def encode_anchor_guarded(*args: Any, time_limit: float | None = None, attempts: int = 2, **kwargs: Any) -> AnchorResult:
    """encode_anchor(*args, **kwargs) in a child process that is killed if it runs past
    `time_limit` seconds (default: anchor_time_limit of the clip) and started again, up to
    `attempts` times (imfcodec/watchdog.py): an encoder library that hangs costs minutes,
    not the benchmark. Raises AnchorTimeout naming the encode after the last attempt."""
    reference = cast(np.ndarray, args[1])
    limit = anchor_time_limit(len(reference)) if time_limit is None else time_limit
    what = f"anchor encode {args[0]} CRF {args[3]} {kwargs or ''}".rstrip()
    # encode_anchor looked up at call time, so that a test can replace it
    return call_with_time_limit(lambda: encode_anchor(*args, **kwargs), limit, what, attempts, hung=AnchorTimeout)
