"""Summarise a training run for docs/TRAINING.md: curves (PNG) and the validation table.

python scripts/training_report.py RUN_DIR docs/training-curve.png > table.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def main(run: Path, png: Path) -> None:
    metrics, val = load(run / "metrics.jsonl"), load(run / "validation.jsonl")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    steps = np.array([m["step"] for m in metrics])
    for key in ("loss", "l1", "perceptual"):
        y = np.array([m[key] for m in metrics])
        k = max(1, len(y) // 30)
        smooth = np.convolve(y, np.ones(k) / k, mode="valid")
        axes[0].plot(steps[k - 1 :], smooth, label=key)
    axes[0].set_xlabel("step")
    axes[0].set_title("training loss (moving average)")
    axes[0].legend()
    axes[0].set_yscale("log")
    if val:
        vs = [v["step"] for v in val]
        axes[1].plot(vs, [v["val_psnr"] for v in val], "o-", label="model")
        axes[1].plot(vs, [v["val_psnr_freeze"] for v in val], "s--", label="repeat keyframe")
        axes[1].set_title("dev PSNR-RGB (dB), first frames of each clip")
        axes[1].set_xlabel("step")
        axes[1].legend()
        axes[2].plot(vs, [v["val_psnr_gain_own_token"] for v in val], "o-", label="gain of own token (dB)")
        axes[2].plot(vs, [v["val_token_spread"] for v in val], "s-", label="token spread within clips")
        axes[2].set_title("collapse detectors")
        axes[2].set_xlabel("step")
        axes[2].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    rows = [
        "| step | PSNR all | freeze all | 1–25 | freeze 1–25 | 26–100 | freeze 26–100 | self | self, token moved 0.3 | own-token gain | token spread | residual entropy (bits/token) | zero residuals |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # One row per validation, and one more for the weight average when the run kept one.
    for entry in val:
        for prefix, label in (("val_", ""), ("val_ema_", " (average)")):
            v = {
                k.replace(prefix, "val_", 1): x
                for k, x in entry.items()
                if k.startswith(prefix) and (prefix == "val_ema_" or not k.startswith("val_ema_"))
            }
            if "val_psnr" not in v:
                continue
            near = f"{v['val_psnr_self_near']:.1f}" if "val_psnr_self_near" in v else "–"
            rows.append(
                f"| {entry['step']}{label} | {v['val_psnr']:.2f} | {v['val_psnr_freeze']:.2f} | {v.get('val_psnr_1_25', float('nan')):.2f} | "
                f"{v.get('val_psnr_freeze_1_25', float('nan')):.2f} | {v.get('val_psnr_26_100', float('nan')):.2f} | "
                f"{v.get('val_psnr_freeze_26_100', float('nan')):.2f} | {v['val_psnr_self']:.1f} | {near} | "
                f"{v['val_psnr_gain_own_token']:+.2f} | "
                f"{v['val_token_spread']:.3f} | {v['val_residual_entropy_bits']:.1f} | {100 * v['val_residual_zero_fraction']:.0f} % |"
            )
    print("\n".join(rows))
    sps = [m["samples_per_s"] for m in metrics[len(metrics) // 10 :]]
    if sps:
        print(f"\nsamples/s (median over the run after warm-up): {np.median(sps):.2f} with world size {metrics[-1]['world_size']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
