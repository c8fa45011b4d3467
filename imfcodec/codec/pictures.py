"""PyAV plumbing shared by every coded picture of the codec (keyframes, the base layer):
an encoder opened the one way that gives the same bytes on every machine, and RGB frames
in and out of YUV 4:2:0 planes through the project's fixed-point conversion (color.py)."""

from __future__ import annotations

from fractions import Fraction
from typing import cast

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .color import rgb_to_yuv420, yuv420_to_rgb

YUV420_FORMATS = ("yuv420p", "yuvj420p", "yuva420p")  # what the decoders deliver without a conversion


def resize_frames(frames: np.ndarray, side: int, interpolation: str) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, side, side, 3) uint8 by swscale's `interpolation`
    ("AREA", "BICUBIC"). One scaler for all the frames: a frame's own `reformat` sets up a
    new one each call, ten times the work (547 calls took 3 s of a 250-frame encode), for
    the same bytes."""
    scaler = VideoReformatter()
    return np.stack(
        [
            scaler.reformat(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24"), width=side, height=side, interpolation=interpolation
            ).to_ndarray()
            for f in frames
        ]
    )


def open_encoder(name: str, width: int, height: int, options: dict[str, str]) -> av.VideoCodecContext:
    """A PyAV video encoder for `width`×`height` yuv420p at 25 fps (time stamps only: rate
    control never sees the clip's real rate) on one thread, so that the bytes do not depend
    on the host's cores."""
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(name, "w"))
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.framerate = Fraction(25, 1)
    ctx.options = options
    ctx.thread_count = 1
    return ctx


def open_decoder(name: str) -> av.VideoCodecContext:
    """A PyAV video decoder on one thread."""
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(name, "r"))
    ctx.thread_count = 1
    return ctx


def yuv_frame(rgb: np.ndarray, pts: int) -> av.VideoFrame:
    """(H, W, 3) uint8 RGB -> a yuv420p frame, converted by color.rgb_to_yuv420."""
    y, u, v = rgb_to_yuv420(rgb)
    h, w = y.shape
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, (y, u, v)):
        copy_into_plane(plane, data)
    frame.pts = pts
    return frame


def rgb_of(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame -> (H, W, 3) uint8 RGB, converted by color.yuv420_to_rgb."""
    if frame.format.name not in YUV420_FORMATS:
        frame = frame.reformat(format="yuv420p")
    return yuv420_to_rgb(*[plane_array(frame.planes[i]) for i in range(3)])


def copy_into_plane(plane: av.video.plane.VideoPlane, data: np.ndarray) -> None:
    """Write (h, w) uint8 `data` into a frame's plane, whose rows may be padded."""
    h, w = data.shape
    buf = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    buf[:h, :w] = data


def plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A frame's plane as (h, w) uint8, its row padding dropped."""
    buf = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return buf[: plane.height, : plane.width].copy()
