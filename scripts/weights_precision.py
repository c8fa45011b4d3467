"""Does storing a shipped model's weights in fp16 change what it decodes? For each model,
each clip: encode once (the hybrid's bitstream does not depend on its weights; a token
model's does, so it is encoded with each), decode with the fp32 weights and with the same
weights rounded to fp16, and report PSNR-RGB against the reference and between the two.

    python scripts/weights_precision.py DEV_CLIPS... [--frames 250] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from imfcodec.bench.reference import prepare_reference
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.frames import psnr_per_frame
from imfcodec.model.weights import LoadedModel, load_weights, resolve_model


def rounded(loaded: LoadedModel, dtype: torch.dtype) -> LoadedModel:
    """The same model with every floating-point weight rounded through `dtype`."""
    import copy

    other = copy.deepcopy(loaded)
    with torch.no_grad():
        for t in list(other.model.parameters()) + list(other.model.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).to(t.dtype))
    return other


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--models", default="imf-hybrid-v1,imf-small-v2")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.models.split(","):
            full = load_weights(resolve_model(name))
            half = rounded(full, torch.float16)
            hybrid = full.model.config.architecture == "hybrid"
            for clip in args.clips:
                ref, _, mkv = prepare_reference(clip, args.frames, 256, work / "ref")
                row = {"model": name, "clip": clip.stem}
                decoded = {}
                for label, loaded in (("fp32", full), ("fp16", half)):
                    imf_path = work / f"{label}.imf"
                    if label == "fp32" or not hybrid:
                        options = EncodeOptions(audio=False) if not hybrid else EncodeOptions(audio=False, bitrate_kbps=4.0)
                        encode_video(mkv, imf_path, loaded, options)
                    else:
                        imf_path = work / "fp32.imf"
                    frames = np.stack(list(iter_decoded_frames(read_imf(imf_path), loaded)))
                    decoded[label] = frames
                    row[f"psnr_{label}"] = float(psnr_per_frame(frames, ref).mean())
                    row[f"kbps_{label}"] = 8 * imf_path.stat().st_size * 25 / len(ref) / 1000
                diff = np.abs(decoded["fp32"].astype(int) - decoded["fp16"])
                row["max_abs_diff"] = int(diff.max()) if decoded["fp32"].shape == decoded["fp16"].shape else -1
                row["psnr_fp16_vs_fp32"] = float(psnr_per_frame(decoded["fp16"], decoded["fp32"]).mean())
                print(json.dumps(row), flush=True)
                results.append(row)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
