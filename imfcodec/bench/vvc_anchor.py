"""The VVC anchor: VVenC through the ffmpeg binary of the imageio-ffmpeg wheel (libvvenc,
and ffmpeg's own VVC decoder), random access, QPA off, one intra period for the whole
clip, a QP sweep; at 256² (`vvenc`) and at the like-for-like low-resolution layer shapes
(`vvenc-lowres`: sides 64/96/128 × picture steps 1–4, repeat or the integer blend, bicubic
up), as JVET's generative-face test conditions use VVC. VVenC's per-picture overhead puts
its 64² floor near 4.6 kbps: below ~5 kbps the SVT-AV1 layer anchor is the stronger one.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..codec.hybrid.base_layer import downscale
from ..errors import ImfcodecError
from .layer_anchor import LayerResult, filled_results
from .vmaf import ffmpeg_binary

VVC_QPS = (55, 50, 45, 40, 35)
VVC_ANCHORS = ("vvenc", "vvenc-lowres")
VVC_TIME_LIMIT = 900.0  # seconds for one encode: 250 frames at 256² take about 10 s


def vvc_code(frames: np.ndarray, qp: int, fps: float) -> tuple[int, np.ndarray]:
    """(T, h, w, 3) uint8 RGB through VVenC at `qp` and back: (bytes of the VVC elementary
    stream, decoded (T, h, w, 3) uint8). Colour: BT.709 limited range, 4:2:0 10-bit."""
    exe = ffmpeg_binary()
    t, h, w, _ = frames.shape
    period = max(1, math.ceil(t / fps) + 1)  # seconds: longer than the clip, so one intra picture
    with tempfile.TemporaryDirectory(prefix="imfcodec-vvc-") as tmp:
        folder = Path(tmp)
        (folder / "in.rgb").write_bytes(np.ascontiguousarray(frames).tobytes())
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}"]
        encode = [exe, "-hide_banner", "-loglevel", "error", "-y", *raw, "-i", "in.rgb"]
        encode += ["-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p10le", "-c:v", "libvvenc", "-preset", "medium"]
        encode += ["-qp", str(qp), "-qpa", "0", "-period", str(period), "-f", "vvc", "out.266"]
        decode = [exe, "-hide_banner", "-loglevel", "error", "-y", "-i", "out.266"]
        decode += ["-vf", "scale=in_color_matrix=bt709:in_range=tv,format=rgb24", "-f", "rawvideo", "out.rgb"]
        for cmd in (encode, decode):
            try:
                done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=VVC_TIME_LIMIT)
            except subprocess.TimeoutExpired:
                raise ImfcodecError(f"VVenC at QP {qp} ({t} pictures of {w}x{h}) took over {VVC_TIME_LIMIT:.0f} s") from None
            if done.returncode != 0:
                last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
                raise ImfcodecError(f"VVC anchor failed: {last}")
        decoded = np.frombuffer((folder / "out.rgb").read_bytes(), np.uint8)
        if decoded.size != frames.size:
            raise ImfcodecError(f"VVC anchor decoded {decoded.size // (h * w * 3)} pictures of {t}")
        return (folder / "out.266").stat().st_size, decoded.reshape(frames.shape)


def encode_vvc_anchor(name: str, reference: np.ndarray, fps: float, qp: int, side: int | None = None, step: int = 1) -> list[LayerResult]:
    """`reference` (T, S, S, 3) through VVenC at full size (`vvenc`) or at a layer shape
    (`vvenc-lowres`, side, step), one result per fill, upscaled and filled to (T, S, S, 3)."""
    size = reference.shape[1]
    low = reference[::step] if side is None else downscale(reference[::step], side)
    t0 = time.time()
    nbytes, decoded = vvc_code(low, qp, fps / step)
    encode_fps = len(reference) / (time.time() - t0)
    if side is None:
        return [LayerResult(name, size, 1, "repeat", qp, nbytes, decoded, encode_fps)]
    return filled_results(name, reference, side, step, qp, nbytes, decoded, encode_fps, low_delay=False)
