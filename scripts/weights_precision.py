"""Does storing a shipped model's weights in fp16 change what it decodes? Each clip is
encoded once with the fp32 weights (`--fp32`: the model as it was exported) and that same
file is decoded with the fp32 weights and with the shipped (stored) ones; PSNR-RGB against
the reference for both, and between the two. The same file for both isolates the weights
from the token mode's closed loop, whose keyframe decisions any last-bit change can flip
(another CPU's float sums included).

    python scripts/weights_precision.py DEV_CLIPS... --model imf-hybrid-v1 --fp32 OLD.safetensors
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from imfcodec.bench.reference import prepare_reference
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.codec.options import is_hybrid
from imfcodec.frames import psnr_per_frame
from imfcodec.model.weights import load_weights, resolve_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--model", required=True, help="The shipped model (as stored now).")
    parser.add_argument("--fp32", required=True, type=Path, help="Its fp32 form (a .safetensors file, or a shared-tensor .json).")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    stored, full = load_weights(resolve_model(args.model)), load_weights(args.fp32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for clip in args.clips:
            ref, fps, mkv = prepare_reference(clip, args.frames, 256, work / "ref")
            # the default of each mode: --bitrate 4 for the hybrid, --quality 3 / --refresh-psnr 20 for tokens
            encode_video(mkv, work / "a.imf", full, EncodeOptions(audio=False))
            imf = read_imf(work / "a.imf")
            a = np.stack(list(iter_decoded_frames(imf, full)))
            b = np.stack(list(iter_decoded_frames(imf, stored)))
            row = {
                "model": args.model,
                "clip": clip.stem,
                "kbps": 8 * (work / "a.imf").stat().st_size * float(fps) / len(ref) / 1000,
                "psnr_fp32": float(psnr_per_frame(a, ref).mean()),
                "psnr_stored": float(psnr_per_frame(b, ref).mean()),
                "max_abs_diff": int(np.abs(a.astype(int) - b).max()),
                "psnr_stored_vs_fp32": float(psnr_per_frame(b, a).mean()),
                "hybrid": is_hybrid(full),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    mean = float(np.mean([r["psnr_stored"] - r["psnr_fp32"] for r in rows]))
    print(f"mean PSNR change {mean:+.4f} dB, largest {max(abs(r['psnr_stored'] - r['psnr_fp32']) for r in rows):.4f} dB")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
