"""Per frame, the in-between frames: a hybrid file's frames with its skipped frames blended
(`linear`) and drawn by motion (`motion`), PSNR-RGB and VMAF per frame against the source,
beside the bicubic base of each, with the coded pictures marked.

The base layer's bits are the file's; only the fill differs, so the difference is what
drawing the in-between frames by motion gives (through the model, and without it).

    python scripts/fill_frames.py DEV/edtalk-mouth_source.mp4 OUT/work/edtalk-mouth_source-bitrate_kbps4.0.imf \\
        --frames 100 --plot docs/fill-frames-edtalk.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from imfcodec.bench.reference import prepare_reference
from imfcodec.bench.vmaf import vmaf_per_frame
from imfcodec.codec.decoder import read_imf
from imfcodec.codec.hybrid.base_layer import decode_base, fill_skipped
from imfcodec.codec.hybrid.decode import decode_hybrid_group, upsampled_frames
from imfcodec.frames import psnr_per_frame
from imfcodec.model.build import HYBRID_MODELS
from imfcodec.model.weights import DEFAULT_MODEL, load_weights, resolve_model

FILLS = ("linear", "motion")


def per_frame(reference: np.ndarray, imf_path: Path, model: str, fps: float) -> dict[str, list[float]]:
    imf = read_imf(imf_path)
    loaded = load_weights(resolve_model(model))
    assert isinstance(loaded.model, HYBRID_MODELS), f"{model} is not a hybrid model"
    step, n = int(imf.header["base_step"]), len(reference)
    rows: dict[str, list[float]] = {}
    for fill in FILLS:
        bases, outputs = [], []
        for group in imf.groups:
            pictures = fill_skipped(decode_base(group.base or b"", -(-group.frame_count // step)), group.frame_count, step, fill)
            bases.append(upsampled_frames(pictures, reference.shape[1]))
            outputs.append(decode_hybrid_group(loaded.model, None, pictures, 8, torch.device("cpu"), step))
        for name, frames in ((f"{fill}", np.concatenate(outputs)[:n]), (f"{fill}_bicubic", np.concatenate(bases)[:n])):
            rows[f"psnr_{name}"] = psnr_per_frame(reference, frames).tolist()
            rows[f"vmaf_{name}"] = vmaf_per_frame(reference, frames, fps)["vmaf"].tolist()
    starts = [g.first_frame for g in imf.groups]
    rows["coded"] = [i for i in range(n) if any((i - s) % step == 0 and i >= s for s in starts)]
    return rows


def plot(rows: dict[str, list[float]], frames: int, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    t = np.arange(frames)
    for axis, metric in zip(axes, ("psnr", "vmaf")):
        for fill, colour in zip(FILLS, ("tab:orange", "tab:blue")):
            axis.plot(t, rows[f"{metric}_{fill}"][:frames], color=colour, lw=1, label=f"{fill}, model")
            axis.plot(t, rows[f"{metric}_{fill}_bicubic"][:frames], color=colour, lw=0.8, ls="--", label=f"{fill}, bicubic")
        for k in rows["coded"]:
            if k < frames:
                axis.axvline(k, color="grey", lw=0.4, ls=":")
        axis.set_ylabel("PSNR-RGB (dB)" if metric == "psnr" else "VMAF")
    axes[0].legend(loc="lower left", fontsize=7, ncol=2)
    axes[1].set_xlabel("frame (dotted: a coded base picture)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("imf", type=Path, help="a hybrid file of the clip's first 250 frames with a base step over 1")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--frames", type=int, default=100, help="frames plotted")
    ap.add_argument("--work", type=Path, default=Path("fill-frames"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    reference, fps, _ = prepare_reference(args.clip, 250, 256, args.work / "references")
    rows = per_frame(reference, args.imf, args.model, float(fps))
    skipped = np.setdiff1d(np.arange(len(reference)), rows["coded"])
    summary = {
        f"{metric}_{name}{part}": float(np.mean(np.asarray(rows[f"{metric}_{name}"])[idx]))
        for metric in ("psnr", "vmaf")
        for name in (*FILLS, *(f"{f}_bicubic" for f in FILLS))
        for part, idx in (("", slice(None)), ("_skipped", skipped))
    }
    print(json.dumps({"file": args.imf.name, **{k: round(v, 3) for k, v in summary.items()}}))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "frames": rows}))
    if args.plot:
        plot(rows, min(args.frames, len(reference)), f"{args.clip.stem}, {args.imf.name}", args.plot)


if __name__ == "__main__":
    main()
