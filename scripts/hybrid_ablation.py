"""Hybrid models side by side on the dev clips: each clip's first 250 frames as one keyframe
group (AV1 keyframe at --quality 4) over the same base layer, PSNR-RGB of the model and of
the bicubic base it refines (training/hybrid.py: evaluate_hybrid_clip).

    python scripts/hybrid_ablation.py DEV_DIR MODEL.safetensors [MODEL ...] [--variants 96:50,64:50,96:57:2] [--fill repeat]
        [--no-keyframe-picture] [--low-delay]

A variant is side:CRF, or side:CRF:step for a base layer of every step-th frame whose
skipped frames are filled by --fill (linear or motion, as the codec's random-access files;
repeat). MODEL: a shipped model's name or a .safetensors path.

Prints a markdown table for docs/TRAINING.md: mean over clips per model and base variant.
A model with a per-frame token (hybrid_token_step) decodes with its tokens, and the table
gives their rate under its factorised prior beside the keyframe and base layer's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.codec.hybrid.base_layer import BASE_FILLS
from imfcodec.model.build import HYBRID_MODELS
from imfcodec.model.weights import load_weights, resolve_model
from imfcodec.training.data import load_validation_clips
from imfcodec.training.hybrid import evaluate_hybrid_clip, variant_parts


def describe(variant: tuple[int, ...], fill: str) -> str:
    side, crf, step = variant_parts(variant)
    return f"{side}², CRF {crf}" + (f", every {step}{'nd' if step == 2 else 'th'} frame ({fill})" if step > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dev", type=Path)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--variants", default="96:50")
    parser.add_argument("--frames", type=int, default=PROTOCOL_FRAMES)
    parser.add_argument("--fill", default="linear", choices=BASE_FILLS)
    parser.add_argument(
        "--no-keyframe-picture", action="store_true", help="the reference is the first base picture upscaled (format 1.2's groups)"
    )
    parser.add_argument("--low-delay", action="store_true", help="base layers without B-frames")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    variants = [tuple(int(x) for x in v.split(":")) for v in args.variants.split(",")]
    clips = load_validation_clips(args.dev, 256, args.frames)
    print("| model | base | PSNR-RGB (dB) | bicubic base (dB) | gain (dB) | kbps (keyframe + base) | token kbps |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        model = load_weights(resolve_model(name)).model
        assert isinstance(model, HYBRID_MODELS)
        for variant in variants:
            rows = [
                evaluate_hybrid_clip(
                    model, c, variant, fill=args.fill, keyframe_picture=not args.no_keyframe_picture, low_delay=args.low_delay
                )
                for c in clips.values()
            ]
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            print(
                f"| {Path(name).stem} | {describe(variant, args.fill)} | {mean['psnr']:.2f} | {mean['psnr_bicubic']:.2f} | "
                f"{mean['gain_db']:+.2f} | {mean['kbps']:.1f} | {mean['token_kbps']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
