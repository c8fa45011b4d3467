"""Markdown tables from an `imfcodec bench` results.json (for docs/BENCHMARKS.md).

python scripts/bench_report.py BENCH_OUT/results.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

import numpy as np


def main(path: str) -> None:
    data = json.load(open(path))
    records, summary = data["records"], data["summary"]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["codec"], json.dumps(r["point"], sort_keys=True))].append(r)
    print("### Mean over the dev clips\n")
    print("| codec | point | kbps (stream) | kbps (file) | PSNR-RGB | PSNR-YUV | MS-SSIM | encode fps | decode fps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (codec, point), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], np.mean([r["kbps"] for r in kv[1]]))):
        m = {
            k: float(np.mean([r[k] for r in rs]))
            for k in ("kbps", "file_kbps", "psnr_rgb", "psnr_yuv", "ms_ssim", "encode_fps", "decode_fps")
        }
        print(
            f"| {codec} | {point} | {m['kbps']:.2f} | {m['file_kbps']:.2f} | {m['psnr_rgb']:.2f} | {m['psnr_yuv']:.2f} | {m['ms_ssim']:.4f} | "
            f"{m['encode_fps']:.0f} | {m['decode_fps']:.0f} |"
        )
    imf = [r for r in records if r["codec"] == "imfcodec"]
    if imf:
        print("\n### imfcodec per dev clip\n")
        print("| clip | point | keyframes | kbps | PSNR-RGB | MS-SSIM |")
        print("|---|---|---|---|---|---|")
        for r in sorted(imf, key=lambda r: (r["clip"], r["kbps"])):
            print(
                f"| {r['clip']} | {json.dumps(r['point'], sort_keys=True)} | {r['keyframes']} | {r['kbps']:.2f} | {r['psnr_rgb']:.2f} | {r['ms_ssim']:.4f} |"
            )
    print("\n### imfcodec against each anchor (mean curve)\n")
    print("| anchor | BD-rate | BD-PSNR | anchor's lowest rate | its PSNR-RGB |")
    print("|---|---|---|---|---|")
    for codec, low in summary["lowest"].items():
        if codec == "imfcodec":
            continue
        bd = summary["bd"].get(codec, {})
        rate = bd.get("bd_rate_percent")
        dpsnr = bd.get("bd_psnr_db")
        print(
            f"| {codec} | {'no overlap' if rate is None else f'{rate:+.1f} %'} | {'no overlap' if dpsnr is None else f'{dpsnr:+.2f} dB'} | "
            f"{low['kbps']:.2f} kbps | {low['psnr_rgb']:.2f} dB |"
        )
    if "imfcodec" in summary["lowest"]:
        low = summary["lowest"]["imfcodec"]
        print(f"\nimfcodec's lowest rate: {low['kbps']:.2f} kbps at {low['psnr_rgb']:.2f} dB.")


if __name__ == "__main__":
    main(sys.argv[1])
