"""--bitrate on the dev clips: how close each file lands and the PSNR it gets.

    python scripts/hybrid_bitrate.py DEV_DIR [--rates 3,5,8] [--frames 250] [--low-delay] [--keyframe-codec av1]

Prints a markdown table (mean over clips, and the worst miss) for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.model.weights import DEFAULT_MODEL, load_weights, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev")
    parser.add_argument("--rates", default="3,5,8")
    parser.add_argument("--frames", type=int, default=PROTOCOL_FRAMES)
    parser.add_argument("--low-delay", action="store_true")
    parser.add_argument("--keyframe-codec", default=None, help="av1 for keyframe pictures (default: the encoder's, none)")
    args = parser.parse_args()
    loaded = load_weights(resolve_model(DEFAULT_MODEL))
    print("| target kbps | file kbps (mean) | worst miss | PSNR-RGB (mean) | base | encode fps |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for rate in (float(r) for r in args.rates.split(",")):
            rows = []
            for clip in sorted(Path(args.dev).iterdir()):
                options = EncodeOptions(
                    bitrate_kbps=rate, audio=False, max_frames=args.frames, low_delay=args.low_delay, keyframe_codec=args.keyframe_codec
                )
                s = encode_video(clip, Path(work) / "x.imf", loaded, options)
                rows.append((s.kbps()["total"], s.mean_psnr, s.frames / s.seconds))
                print(f"<!-- {clip.stem} {rate}: {rows[-1]} -->", flush=True)
            r = np.array(rows)
            miss = float(np.max(np.abs(r[:, 0] - rate) / rate))
            print(
                f"| {rate:g} | {r[:, 0].mean():.2f} | {100 * miss:.0f} % | {r[:, 1].mean():.2f} | {options.base_size or 'auto'} | {r[:, 2].mean():.0f} |"
            )


if __name__ == "__main__":
    main()
