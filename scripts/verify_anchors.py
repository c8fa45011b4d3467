"""Cross-check `imfcodec bench`'s anchor numbers with an independent ffmpeg command line.

    python scripts/verify_anchors.py FFMPEG BENCH_OUT_DIR [CLIP_STEM ...]

For each cached reference (BENCH_OUT_DIR/references/*.mkv, lossless) and each anchor
point recorded in BENCH_OUT_DIR/results.json, the same settings are run through the
ffmpeg binary given (not PyAV): the elementary stream is written raw (H.264 with its SEI
units removed by the filter_units bitstream filter, HEVC Annex B; AV1 in IVF, whose
32-byte file and 12-byte frame headers are subtracted), and PSNR-RGB per
frame comes from ffmpeg's psnr filter on rgb24 (ffmpeg's own YUV-to-RGB conversion). Prints both measurements side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from imfcodec.bench.metrics import psnr_rgb_per_frame

SETTINGS = {
    "x264": (
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryslow",
            "-x264-params",
            "bframes=0:keyint=infinite:scenecut=0",
            "-bsf:v",
            "filter_units=remove_types=6",
        ],
        "h264",
    ),
    "x265": (["-c:v", "libx265", "-preset", "medium", "-x265-params", "bframes=0:keyint=-1:scenecut=0:info=0:log-level=none"], "hevc"),
    "svtav1": (["-c:v", "libsvtav1", "-preset", "4", "-svtav1-params", "keyint=-1:pred-struct=1"], "ivf"),
}


def run(ffmpeg: str, reference: Path, codec: str, crf: int, work: Path) -> tuple[int, float, float]:
    args, fmt = SETTINGS[codec]
    stream = work / f"{codec}-{crf}.{fmt}"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(reference), *args, "-crf", str(crf), "-pix_fmt", "yuv420p", "-f", fmt, str(stream)],
        check=True,
    )
    stats = work / "psnr.log"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            str(stream),
            "-i",
            str(reference),
            "-lavfi",
            f"[0:v]format=rgb24[a];[1:v]format=rgb24[b];[a][b]psnr=stats_file={stats}",
            "-f",
            "null",
            "-",
        ],
        check=True,
    )
    mse = [float(part.split(":")[1]) for line in stats.read_text().splitlines() for part in line.split() if part.startswith("mse_avg:")]
    psnr = [100.0 if m == 0 else 10 * np.log10(255**2 / m) for m in mse]
    size = stream.stat().st_size
    if fmt == "ivf":  # container bytes, not stream bytes: 32-byte file header, 12 per frame
        size -= 32 + 12 * len(mse)
    # The same stream measured the bench's way (PyAV's YUV-to-RGB, our PSNR), which
    # separates the encoders' agreement from the two tools' colour conversions.
    ref = np.load(reference.with_suffix(".npy"))
    with av.open(str(stream)) as c:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return size, float(np.mean(psnr)), float(psnr_rgb_per_frame(ref, decoded).mean())


def main(ffmpeg: str, out: Path, clips: list[str]) -> None:
    records = json.loads((out / "results.json").read_text())["records"]
    print(
        "| clip | anchor | crf | bench kbps | ffmpeg kbps | Δ rate | bench PSNR-RGB | ffmpeg stream, bench's PSNR | Δ dB | ffmpeg's own PSNR-RGB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for r in records:
            if r["codec"] not in SETTINGS or (clips and r["clip"] not in clips):
                continue
            reference = next((out / "references").glob(f"{r['clip']}-*.mkv"))
            nbytes, psnr_ffmpeg, psnr_ours = run(ffmpeg, reference, r["codec"], r["point"]["crf"], Path(tmp))
            rate = 8 * nbytes / (r["frames"] / r["fps"]) / 1000
            print(
                f"| {r['clip']} | {r['codec']} | {r['point']['crf']} | {r['kbps']:.2f} | {rate:.2f} | {100 * (rate / r['kbps'] - 1):+.1f} % | "
                f"{r['psnr_rgb']:.2f} | {psnr_ours:.2f} | {psnr_ours - r['psnr_rgb']:+.2f} | {psnr_ffmpeg:.2f} |"
            )


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:])
