"""Which intra codec should code keyframes? Rate and PSNR-RGB of each on dev frames.

    python scripts/keyframe_codecs.py DEV_DIR

Frames 0, 100 and 200 of each clip (when present) as 256² references, every --quality.
Prints a markdown table of mean bytes and PSNR per codec and quality, and the BD-rate of
each codec against AV1 (pchip, over the overlapping range).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from imfcodec.bench.metrics import psnr
from imfcodec.bench.summary import bd_rate
from imfcodec.codec.keyframes import CODECS
from imfcodec.codec.video_io import iter_frames


def main(folder: Path) -> None:
    frames = []
    for clip in sorted(folder.glob("*.mp4")):
        for i, f in enumerate(iter_frames(clip, size=256, max_frames=201)):
            if i in (0, 100, 200):
                frames.append(f)
    rows = {}
    for name, codec in CODECS.items():
        pts = []
        for q in range(1, 9):
            sizes, ps = [], []
            for f in frames:
                data = codec.encode(f, q)
                sizes.append(len(data))
                ps.append(psnr(f, codec.decode(data)))
            pts.append((q, float(np.mean(sizes)), float(np.mean(ps))))
        rows[name] = pts
    print(f"{len(frames)} frames from {folder.name}\n")
    print("| codec | " + " | ".join(f"q{q}" for q in range(1, 9)) + " |")
    print("|---|" + "---|" * 8)
    for name, pts in rows.items():
        print(f"| {name} | " + " | ".join(f"{b:.0f} B / {p:.2f} dB" for _, b, p in pts) + " |")
    anchor = ([b for _, b, _ in rows["av1"]], [p for _, _, p in rows["av1"]])
    for name, pts in rows.items():
        if name != "av1":
            r = bd_rate(anchor, ([b for _, b, _ in pts], [p for _, _, p in pts]))
            print(f"\nBD-rate of {name} vs av1: {'no overlap' if r is None else f'{r:+.1f} %'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
