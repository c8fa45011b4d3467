"""`python -m imfcodec.codec.sample OUT.mp4`: a short synthetic clip with sound, made by
ffmpeg's own test sources, so the README's first command needs no download."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av

from ..atomic import atomic_path
from .video_io import OUTPUT_FORMATS


def make_sample(path: str | Path, seconds: float = 4.0, fps: int = 25) -> Path:
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
    print(make_sample(sys.argv[1] if len(sys.argv) > 1 else "sample.mp4"))
