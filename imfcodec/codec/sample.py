"""Sample clips: the real talking head shipped in the package (`imfcodec sample OUT.mp4`),
and a synthetic clip with sound made by ffmpeg's own test sources (`--synthetic`).

The real clip is what the codec is for: 5 s of a frontal talking head, 256², 25 fps
(imfcodec/samples/talking-head.md says where it comes from and under which licence).
The synthetic one is a pattern no face model can follow; it stays for trying the audio path.
"""

from __future__ import annotations

import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av

from ..atomic import atomic_path
from ..errors import ImfcodecError
from .video_io import OUTPUT_FORMATS

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
TALKING_HEAD = SAMPLES_DIR / "talking-head.mp4"


def write_sample(path: str | Path) -> Path:
    """Copy the shipped talking-head clip (H.264 in MP4) to `path`, atomically."""
    path = Path(path)
    if path.suffix.lower() not in ("", ".mp4", ".m4v"):
        raise ImfcodecError(f"{path}: the sample clip is an MP4 file; name the output .mp4 (or use --synthetic)")
    with atomic_path(path) as tmp:
        shutil.copyfile(TALKING_HEAD, tmp)
    return path


def make_synthetic_sample(path: str | Path, seconds: float = 4.0, fps: int = 25) -> Path:
    """ffmpeg's testsrc2 pattern (320×240) with a 440 Hz tone, `seconds` long, at `path`."""
    path = Path(path)
    video_src = av.open(f"testsrc2=size=320x240:rate={fps}:duration={seconds}", format="lavfi")
    audio_src = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=OUTPUT_FORMATS.get(path.suffix.lower(), "mp4")) as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 320, 240, "yuv420p"
        v.options = {"crf": "20", "preset": "fast"}
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        for i, frame in enumerate(video_src.decode(video=0)):
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        for sound in audio_src.decode(audio=0):
            for p in a.encode(sound):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


if __name__ == "__main__":
    args = sys.argv[1:]
    synthetic = "--synthetic" in args
    args = [a for a in args if a != "--synthetic"]
    target = args[0] if args else "sample.mp4"
    print(make_synthetic_sample(target) if synthetic else write_sample(target))
