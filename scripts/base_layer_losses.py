"""Where a hybrid file's dB go: for each .imf file given (e.g. the ones `imfcodec bench`
leaves in OUT/work), PSNR-RGB against the 256² source of

  - the source area-downscaled to the file's base side and bicubic upscaled, every frame
    (what the resolution alone costs),
  - the same at the file's picture step, the skipped frames filled as the file fills them
    (the resolution and the picture rate, no coding),
  - the file's own base layer, decoded, filled and upscaled (all of it: what the network
    starts from).

    python scripts/base_layer_losses.py --clips DEV_DIR OUT/work/*-bitrate_kbps4.0.imf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imfcodec.bench.metrics import psnr_rgb_per_frame
from imfcodec.bench.reference import reference_of_file
from imfcodec.bench.run import own_base_frames
from imfcodec.codec.decoder import read_imf
from imfcodec.codec.hybrid.base_layer import downscale, fill_skipped
from imfcodec.codec.hybrid.decode import base_fill, base_layer_timing, upsampled_frames


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--clips", type=Path, required=True, help="the folder of the clips the files were coded from (by stem)")
    parser.add_argument("--frames", type=int, default=250)
    args = parser.parse_args()
    rows = []
    for path in sorted(args.files):
        imf = read_imf(path)
        side, (step, _) = int(imf.header["base_size"]), base_layer_timing(imf)
        fill = base_fill(imf)
        size = int(imf.header["size"])
        source, _ = reference_of_file(path, args.clips, args.frames, size)
        low = downscale(source, side)
        shown = {
            "resolution": upsampled_frames(low, size),
            "resolution_and_step": upsampled_frames(fill_skipped(low[::step], len(source), step, fill), size),
            "coded_base": own_base_frames(imf),
        }
        row = {"file": path.name, "side": side, "step": step, "fill": fill}
        row.update({k: round(float(psnr_rgb_per_frame(source, v).mean()), 3) for k, v in shown.items()})
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("mean", {k: round(float(np.mean([r[k] for r in rows])), 2) for k in ("resolution", "resolution_and_step", "coded_base")})


if __name__ == "__main__":
    main()
