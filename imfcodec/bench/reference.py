"""The reference clip of the test conditions: first N frames, centre square, 256², native fps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..codec.video_io import VideoWriter, iter_frames, probe


def prepare_reference(video: Path, frames: int, size: int, cache: Path) -> tuple[np.ndarray, Fraction, Path]:
    """Frames (T, size, size, 3) uint8, the fps, and a lossless FFV1 copy for the codecs to read.
    Cached under `cache` by clip name, frame count and size."""
    cache.mkdir(parents=True, exist_ok=True)
    fps = probe(video).fps
    stem = f"{video.stem}-{frames}f-{size}"
    npy, mkv = cache / f"{stem}.npy", cache / f"{stem}.mkv"
    if npy.is_file() and mkv.is_file():
        return np.load(npy), fps, mkv
    ref = np.stack(list(iter_frames(video, size=size, max_frames=frames)))
    writer = VideoWriter(mkv, fps, size, size)
    for f in ref:
        writer.write(f)
    writer.close()
    np.save(npy, ref)
    return ref, fps, mkv


SCRIPT_CACHE = Path("/tmp/imfcodec-refs")  # where the measurement scripts keep their references


def reference_of_file(file: Path, clips: Path, frames: int, size: int) -> tuple[np.ndarray, Fraction]:
    """The reference frames (T, size, size, 3) and fps of a file coded from one of the clips
    in the folder `clips`: the clip whose stem begins the file's name, the longest such (as
    `imfcodec bench` names its files: OUT/work/CLIP-bitrate_kbps4.0.imf), prepared as the
    bench prepares it (cached in SCRIPT_CACHE)."""
    by_stem = {p.stem: p for p in clips.iterdir()}
    stem = next((s for s in sorted(by_stem, key=len, reverse=True) if file.name.startswith(s)), None)
    if stem is None:
        raise FileNotFoundError(f"{file.name}: no clip in {clips} begins its name")
    reference, fps, _ = prepare_reference(by_stem[stem], frames, size, SCRIPT_CACHE)
    return reference, fps
