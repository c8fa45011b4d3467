"""Shared fixtures: synthetic clips made on the fly, and a tiny model with frozen tables."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def synthetic_frames(count: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured background with a disc moving across it: (T, H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 200 + 20, yy / height * 200 + 20, 128 + 60 * np.sin(xx / 7) * np.cos(yy / 9)], axis=-1)
    base += rng.normal(0, 4, base.shape)
    frames = []
    for t in range(count):
        cx, cy = width * (0.3 + 0.4 * t / max(1, count - 1)), height * 0.5
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (min(width, height) * 0.2) ** 2
        f = base.copy()
        f[mask] = [230, 180, 150]
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_clip(
    path: Path, frames: np.ndarray, fps: int = 25, audio: bool = False, codec: str = "libx264", pix_fmt: str = "yuv420p"
) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "ultrafast"}
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "mono"
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts = i
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        if astream is not None:
            seconds = len(frames) / fps
            samples = int(seconds * 48000)
            t = np.arange(samples) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
            pos = 0
            while pos < samples:
                chunk = tone[pos : pos + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
                af.sample_rate = 48000
                af.pts = pos
                af.time_base = Fraction(1, 48000)
                for p in astream.encode(af):
                    out.mux(p)
                pos += len(chunk)
            for p in astream.encode(None):
                out.mux(p)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 frames, 96×64, 25 fps, with an audio track."""
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", synthetic_frames(20, 96, 64), audio=True)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tiny test model (fixed weights, 64², d_m 16, synthetic tables)."""
    return Path(__file__).parent / "expected" / "tiny-test.safetensors"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny training clips (one not square), for the training tests."""
    folder = tmp_path_factory.mktemp("train-data")
    write_clip(folder / "a.mp4", synthetic_frames(12, 80, 64, seed=1))
    write_clip(folder / "b.mp4", synthetic_frames(12, 64, 64, seed=2))
    return folder


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory):
    """An untrained tiny hybrid at 256²: its output is exactly the bicubic base."""
    import torch

    from imfcodec.model import HybridIMF, preset
    from imfcodec.model.weights import load_weights, save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hybrid") / "hybrid.safetensors"
    save_weights(HybridIMF(preset("hybrid-tiny", size=256)), path, provenance={"purpose": "tests", "trained": False})
    return load_weights(path)
