"""Hybrid models compared on the same bits: every .imf file given (hybrid files without
keyframe pictures, e.g. those `imfcodec bench` leaves in OUT/work) is restored by each model
from its own base layer; PSNR-RGB and VMAF against the reference clip, beside the base
bicubic upscaled. Equal files, so the difference is the models'.

    python scripts/same_base_models.py --clips DEV_DIR --models imf-hybrid-v1,imf-hybrid-v2 OUT/work/*.imf

`--fill linear|motion|repeat` fills the pictures the layer skips that way instead of as each
file's HEAD says (`bf`), for the models and the bicubic row alike: what the motion fill is
worth under a model (issue 21's item 3, docs/TRAINING.md's ablations).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imfcodec.bench.metrics import psnr_rgb_per_frame
from imfcodec.bench.reference import reference_of_file
from imfcodec.bench.vmaf import vmaf
from imfcodec.codec.decoder import read_imf
from imfcodec.codec.hybrid.decode import base_fill, base_layer_timing, decode_hybrid_group, group_base_pictures, upsampled_frames
from imfcodec.codec.keyframes import NO_KEYFRAME
from imfcodec.model.weights import load_weights, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--clips", type=Path, required=True, help="the folder of the clips the files were coded from (by stem)")
    parser.add_argument("--models", default="imf-hybrid-v1,imf-hybrid-v2")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--fill", choices=("linear", "motion", "repeat"), help="fill skipped pictures so, not as the file says")
    args = parser.parse_args()
    models = {name: load_weights(resolve_model(name)) for name in args.models.split(",")}
    rows = []
    for path in sorted(args.files):
        imf = read_imf(path)
        if imf.header.get("keyframe_codec") != NO_KEYFRAME:
            continue
        reference, fps = reference_of_file(path, args.clips, args.frames, int(imf.header["size"]))
        row = {"file": path.name, "kbps": 8 * path.stat().st_size * float(fps) / len(reference) / 1000}
        step, low_delay = base_layer_timing(imf)
        row["fill"] = args.fill or base_fill(imf)
        groups = [group_base_pictures(imf, g, args.fill) for g in imf.groups]  # decoded once, for the base and every model
        base = np.concatenate([upsampled_frames(g, int(imf.header["size"])) for g in groups])
        row["bicubic"] = {"psnr": float(psnr_rgb_per_frame(reference, base).mean()), **vmaf(reference, base, float(fps))}
        for name, loaded in models.items():
            model = loaded.model
            device = next(model.parameters()).device
            decoded = np.concatenate(
                [decode_hybrid_group(model, None, g, 16, device, step, low_delay) for g in groups]  # type: ignore[arg-type]
            )
            row[name] = {"psnr": float(psnr_rgb_per_frame(reference, decoded).mean()), **vmaf(reference, decoded, float(fps))}
        print(json.dumps(row), flush=True)
        rows.append(row)
    for key in ["bicubic", *models]:
        print(key, {m: round(float(np.mean([r[key][m] for r in rows])), 3) for m in ("psnr", "vmaf", "vmaf_neg")})


if __name__ == "__main__":
    main()
