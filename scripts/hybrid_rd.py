"""Hybrid mode on the dev clips: the whole codec (encode -> .imf -> decode) at each base
layer (side, CRF), set beside the bicubic upscaled base of the same file (what the
low-resolution anchor shows from those same base bits, without the keyframe's bits).

    python scripts/hybrid_rd.py MODEL.safetensors DEV_DIR [--frames 250] [--variants 64:50,96:45,...]

Prints a markdown table (per variant: mean over clips) for docs/BENCHMARKS.md; rates are
the whole .imf file, audio off (EVALUATION.md).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.bench.run import bicubic_base_psnr
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.codec.video_io import VideoWriter, iter_frames, probe
from imfcodec.frames import psnr_per_frame
from imfcodec.model.weights import load_weights
from imfcodec.rate import kbps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("dev")
    parser.add_argument("--frames", type=int, default=PROTOCOL_FRAMES)
    parser.add_argument("--variants", default="64:50,64:58,96:45,96:55,128:50,128:58")
    parser.add_argument("--low-delay", action="store_true")
    args = parser.parse_args()
    loaded = load_weights(args.model)
    variants = [tuple(int(x) for x in v.split(":")) for v in args.variants.split(",")]
    clips = sorted(Path(args.dev).iterdir())
    rows: dict[tuple[int, int], list[tuple[float, float, float, float, float]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as work:
        for clip in clips:
            reference = np.stack(list(iter_frames(clip, size=loaded.model.config.size, max_frames=args.frames)))
            fps = probe(clip).fps
            source = Path(work) / f"{clip.stem}.mkv"
            writer = VideoWriter(source, fps, reference.shape[2], reference.shape[1])
            for f in reference:
                writer.write(f)
            writer.close()
            for side, crf in variants:
                out = Path(work) / "x.imf"
                t0 = time.time()
                options = EncodeOptions(
                    quality=4, keyframe_codec="av1", audio=False, base_size=side, base_crf=crf, low_delay=args.low_delay
                )
                summary = encode_video(source, out, loaded, options)
                t_enc = time.time() - t0
                imf = read_imf(out)
                # The encoder's in-loop frames are the decoder's (one function makes both, and
                # tests/test_hybrid.py holds them equal): the full decode is timed on the first clip only.
                decode_fps = float("nan")
                if clip == clips[0]:
                    t0 = time.time()
                    decoded = np.stack(list(iter_decoded_frames(imf, loaded)))
                    decode_fps = len(decoded) / (time.time() - t0)
                    assert abs(float(psnr_per_frame(decoded, reference).mean()) - summary.mean_psnr) < 1e-6
                base_bytes = sum(len(g.base or b"") for g in imf.groups)
                n = len(reference)
                rows[(side, crf)].append(
                    (
                        kbps(out.stat().st_size, n, float(fps)),
                        kbps(base_bytes, n, float(fps)),
                        summary.mean_psnr,
                        bicubic_base_psnr(imf, reference),
                        decode_fps,
                    )
                )
                print(f"{clip.stem} {side}:{crf} {rows[(side, crf)][-1]} encode {n / t_enc:.1f} fps", flush=True)
    print("| base | CRF | file kbps | base kbps | hybrid PSNR-RGB | bicubic base PSNR-RGB | gain | decode fps |")
    print("|---|---|---|---|---|---|---|---|")
    for (side, crf), r in rows.items():
        m = np.nanmean(np.array(r), axis=0)
        print(f"| {side}² | {crf} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} | {m[2] - m[3]:+.2f} | {m[4]:.0f} |")


if __name__ == "__main__":
    main()
