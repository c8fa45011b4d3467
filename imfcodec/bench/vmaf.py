"""VMAF (libvmaf's vmaf_v0.6.1 and vmaf_v0.6.1neg) through the ffmpeg binary that the
`imageio-ffmpeg` wheel ships (ffmpeg 9 with libvmaf; `pip install ".[bench]"`).

Both sides are handed over as raw RGB24 and converted to yuv420p (BT.709, limited range) by
one and the same filter, as EVALUATION.md fixes; the score is the mean over frames. PSNR
rewards blur and blended in-between frames; VMAF's detail and motion features see them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ImfcodecError

MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
VMAF_TIME_LIMIT = 600.0  # seconds: 250 frames at 256² take about 2 s


class VmafUnavailable(ImfcodecError):
    """No ffmpeg with libvmaf to measure with."""


def ffmpeg_binary() -> str:
    """The imageio-ffmpeg wheel's ffmpeg (it has libvmaf, libvvenc, libsvtav1), or a one-line error."""
    try:
        import imageio_ffmpeg
    except ModuleNotFoundError:
        raise VmafUnavailable('VMAF and the VVC anchor need the imageio-ffmpeg wheel: pip install ".[bench]"') from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _to_yuv(label: str) -> str:
    return f"[{label}]scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"


def vmaf(reference: np.ndarray, test: np.ndarray, fps: float = 25.0) -> dict[str, float]:
    """{"vmaf": mean vmaf_v0.6.1, "vmaf_neg": mean vmaf_v0.6.1neg} of `test` against
    `reference`, both (T, H, W, 3) uint8 RGB of the same shape."""
    return {k: float(v.mean()) for k, v in vmaf_per_frame(reference, test, fps).items()}


def vmaf_per_frame(reference: np.ndarray, test: np.ndarray, fps: float = 25.0) -> dict[str, np.ndarray]:
    """As `vmaf`, per frame: {"vmaf": (T,), "vmaf_neg": (T,)}."""
    if reference.shape != test.shape or reference.ndim != 4 or reference.shape[-1] != 3:
        raise ValueError(f"VMAF needs two (T, H, W, 3) clips of one shape, got {reference.shape} and {test.shape}")
    t, h, w, _ = reference.shape
    exe = ffmpeg_binary()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ref.rgb").write_bytes(np.ascontiguousarray(reference).tobytes())
        (folder / "test.rgb").write_bytes(np.ascontiguousarray(test).tobytes())
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}"]
        models = "|".join(f"version={v}\\:name={k}" for k, v in MODELS.items())  # ':' escaped inside the quoted value
        graph = f"{_to_yuv('0:v')}[d];{_to_yuv('1:v')}[r];[d][r]libvmaf=model='{models}':log_fmt=json:log_path=log.json:n_threads=2"
        cmd = [exe, "-hide_banner", "-loglevel", "error", *raw, "-i", "test.rgb", *raw, "-i", "ref.rgb", "-lavfi", graph, "-f", "null", "-"]
        try:
            done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=VMAF_TIME_LIMIT)
        except subprocess.TimeoutExpired:
            raise ImfcodecError(f"VMAF of {t} frames took over {VMAF_TIME_LIMIT:.0f} s") from None
        if done.returncode != 0:
            raise ImfcodecError(f"VMAF failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
        log = json.loads((folder / "log.json").read_text())["frames"]
    return {k: np.array([float(f["metrics"][k]) for f in log]) for k in MODELS}
