"""Export a training run: inference weights + frozen integer entropy tables + model card.

The tables are fitted on what the codec really codes: each training clip's tokens,
quantised against the previous decoded token at every --quality step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.codec.tokens.quantize import quantize_tokens
from imfcodec.frames import frames_to_tensor
from imfcodec.model import build_model as build_network
from imfcodec.model import count_parameters
from imfcodec.model.build import HYBRID_MODELS
from imfcodec.model.prior import fit_scales, frozen_tables
from imfcodec.model.weights import save_weights
from imfcodec.quality import QUALITY_STEPS

from .. import atomic
from ..errors import ConfigError
from .checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, resolve_checkpoint
from .config import TrainConfig
from .data import build_frame_cache, open_frame_cache
from .evaluate import BUCKETS, NEAR_SELF_DISTANCE, evaluate_clips
from .trainer import Generator, build_model

TABLE_FRAMES_PER_CLIP = 120


@torch.no_grad()
def clip_tokens(model: torch.nn.Module, frames: np.ndarray, batch: int = 32) -> np.ndarray:
    """(T, S, S, 3) uint8 -> (T, D) float64 tokens."""
    return torch.cat([model.encode_tokens(frames_to_tensor(frames[i : i + batch])) for i in range(0, len(frames), batch)]).double().numpy()


def fit_tables(model: torch.nn.Module, clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Integer tables (Q, D, A) and the fitted Laplace scales (Q, D), in steps."""
    tokens = [clip_tokens(model, c) for c in clips]
    per_quality = []
    for step in QUALITY_STEPS:
        residuals = [quantize_tokens(t[1:], t[0], step)[0] for t in tokens if len(t) > 1]
        per_quality.append(np.concatenate(residuals))
    scales = fit_scales(per_quality)
    return frozen_tables(scales), scales


def export_run(run_dir: Path, output: Path, data: Path | None = None, val: Path | None = None, notes: str = "") -> str:
    run_dir = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise CheckpointError(f"{run_dir}: no checkpoint to export")
    if cfg.model.architecture == "hybrid":
        return export_hybrid_run(run_dir, cfg, ckpt, output, val, notes)
    model, prior = build_model(cfg)
    # The weight average when the run kept one, else the live weights.
    averaged = cfg.optim.ema_decay > 0
    state = load_checkpoint(ckpt, {"generator_ema" if averaged else "generator": Generator(model, prior)})
    if state["absent_modules"]:
        raise CheckpointError(f"{ckpt}: the run's recipe averages weights, but this checkpoint holds no average")
    model.eval()
    launch = json.loads((run_dir / "launch.json").read_text()) if (run_dir / "launch.json").is_file() else {}
    data = data or (Path(launch["data"]) if launch.get("data") else None)
    if data is None:
        raise ConfigError("--data is needed to fit the entropy tables")
    cache_root = Path(launch["cache"]) if launch.get("cache") else run_dir / "cache"
    cache = open_frame_cache(
        build_frame_cache(data, cache_root, cfg.model.size, cfg.data.cache_max_frames, cfg.data.keyframe_qualities, cfg.run.seed)
    )
    clips = [np.asarray(cache.frames[s : s + min(n, TABLE_FRAMES_PER_CLIP)]) for s, n in zip(cache.clip_start, cache.clip_length)]
    tables, scales = fit_tables(model, clips)

    trained_s = trained_seconds(run_dir, cfg.data.batch_size, int(state["step"]))
    dev: dict[str, float] = {}
    if val is not None:
        from .data import load_validation_clips

        dev = evaluate_clips(model, load_validation_clips(val, cfg.model.size, PROTOCOL_FRAMES))
    provenance = {
        "recipe": json.loads(cfg.to_json()),
        "steps": int(state["step"]),
        "weights": f"exponential moving average, decay {cfg.optim.ema_decay}" if averaged else "live",
        "trained_wall_seconds": round(trained_s),
        "world_size": _world_size(run_dir),
        "train_data": str(Path(data).name),
        "exported_at": time.strftime("%Y-%m-%d"),
        "table_scales_in_steps_mean": [round(float(s), 3) for s in scales.mean(axis=1)],
        "dev_metrics_quality4": {k: round(v, 3) for k, v in dev.items()},
        "initialised_from": _lineage(cfg),
        "notes": notes,
    }
    model_id = save_weights(model, output, tables=tables, provenance=provenance)
    atomic.write_text(output.with_suffix(".md"), model_card(model, cfg, provenance, model_id))
    return model_id


def _lineage(cfg: TrainConfig) -> dict[str, Any] | None:
    """Steps and wall time of the run a fine-tune started from (`init_from`), when it is at hand."""
    if not cfg.run.init_from:
        return None
    ckpt = resolve_checkpoint(Path(cfg.run.init_from))
    if ckpt is None or not ckpt.name.removeprefix("step_").isdigit():  # not a run's checkpoint: a folder made by hand
        return {"checkpoint": Path(cfg.run.init_from).name}
    run_dir = ckpt.parent.parent
    steps = int(ckpt.name.removeprefix("step_"))
    out: dict[str, Any] = {"run": run_dir.name, "checkpoint": ckpt.name, "steps": steps}
    if (run_dir / "config.json").is_file():
        batch_size = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())).data.batch_size
        out["trained_wall_seconds"] = round(trained_seconds(run_dir, batch_size, steps))
    return out


def trained_seconds(run_dir: Path, batch_size: int, up_to_step: int) -> float:
    """Wall-clock seconds of training up to `up_to_step`, summed from metrics.jsonl (each
    line covers the steps since the previous one at its samples/s), so restarts and resumes
    count once: a step logged again after a resume replaces its first logging."""
    per_step: dict[int, float] = {}
    previous = 0
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        row = json.loads(line)
        step = int(row["step"])
        if step <= previous:  # a resumed run logs from its checkpoint again
            previous = max((s for s in per_step if s < step), default=0)
            for s in [s for s in per_step if s >= step]:
                del per_step[s]
        rate = float(row.get("samples_per_s", 0.0))
        if rate > 0:
            per_step[step] = (step - previous) * batch_size * int(row.get("world_size", 1)) / rate
        previous = step
    return sum(v for s, v in per_step.items() if s <= up_to_step)


def _world_size(run_dir: Path) -> int:
    try:
        last = (run_dir / "metrics.jsonl").read_text().strip().splitlines()[-1]
        return int(json.loads(last).get("world_size", 1))
    except (OSError, IndexError, ValueError):
        return 1


def _db(value: float) -> str:
    """PSNR for the card; 100 dB is psnr_per_frame's value for identical 8-bit frames."""
    return "identical (100 dB)" if value >= 100.0 else f"{value:.2f} dB"


def model_card(model: torch.nn.Module, cfg: TrainConfig, provenance: dict[str, Any], model_id: str) -> str:
    dev = provenance["dev_metrics_quality4"]
    lines = [
        f"# Model card: IMF `{cfg.model.preset}` ({cfg.model.size}², d_m = {cfg.model.token_dim})",
        "",
        f"- Model id (SHA-256 of the .safetensors): `{model_id}`",
        f"- Parameters: {count_parameters(model) / 1e6:.2f} M",
        f"- Training: {provenance['steps']} steps, batch {cfg.data.batch_size} × {provenance['world_size']} worker(s), "
        f"{provenance['trained_wall_seconds'] / 60:.0f} minutes of wall-clock time, on the train split only.",
        f"- Weights: {provenance.get('weights', 'live')}.",
        f"- Losses: L1 ×{cfg.loss.lambda_l1}, perceptual ×{cfg.loss.lambda_perceptual} (MS-SSIM fallback unless VGG weights were given), "
        f"GAN ×{cfg.loss.lambda_gan}, rate ×{cfg.loss.lambda_rate} per bit.",
        "- Entropy tables: one Laplace per token dimension and --quality, fitted on the codec's own residuals "
        "(each token predicted from the previous decoded one) over the training clips, frozen to 16-bit integer frequencies.",
    ]
    start = provenance.get("initialised_from")
    if start:
        before = f"{start['steps']} steps" if "steps" in start else "its weights"
        if "trained_wall_seconds" in start:
            before += f", {start['trained_wall_seconds'] / 60:.0f} minutes"
        lines.append(f"- Started from run `{start.get('run', '?')}` checkpoint `{start['checkpoint']}` ({before}), with a fresh optimiser.")
    lines += [
        "",
        "## Dev split (codec conditions: keyframe = first frame through AV1 at --quality 4, quantised tokens)",
        "",
    ]
    if dev:
        lines += ["| frames | model PSNR-RGB (dB) | repeat keyframe (dB) |", "|---|---|---|"]
        lines.append(f"| all | {dev.get('psnr', float('nan')):.2f} | {dev.get('psnr_freeze', float('nan')):.2f} |")
        for lo, hi in BUCKETS:
            if f"psnr_{lo}_{hi}" in dev:
                lines.append(f"| {lo}–{hi} | {dev[f'psnr_{lo}_{hi}']:.2f} | {dev[f'psnr_freeze_{lo}_{hi}']:.2f} |")
        lines += [
            "",
            f"- Keyframe rebuilt from itself: {_db(dev.get('psnr_self', float('nan')))} from the clean frame, "
            f"{_db(dev.get('psnr_self_decoded_keyframe', float('nan')))} from the decoded keyframe (the codec's reference); "
            f"{dev.get('psnr_self_near', float('nan')):.2f} dB with its token moved by {NEAR_SELF_DISTANCE} "
            "(the median quantisation error at --quality 4)",
            f"- PSNR gain of each frame's own token over the keyframe's token: {dev.get('psnr_gain_own_token', float('nan')):+.2f} dB",
            f"- Token spread within clips: {dev.get('token_spread', float('nan')):.3f}; "
            f"zero residuals: {100 * dev.get('residual_zero_fraction', float('nan')):.1f} %; "
            f"empirical entropy of the residuals: {dev.get('residual_entropy_bits', float('nan')):.1f} bits per token",
            f"- MS-SSIM: {dev.get('ssim', float('nan')):.4f} (model), PSNR-RGB over all frames after the keyframe",
        ]
    else:
        lines.append("Not evaluated at export (no --val given).")
    lines += [
        "",
        "## Limits",
        "",
        "A provisional model: trained on a CPU for a tiny fraction of the paper's budget. "
        "It is meant to make the codec usable and measurable, not to be the last word on quality.",
    ]
    if provenance.get("notes"):
        lines += ["", provenance["notes"]]
    return "\n".join(lines) + "\n"


def export_hybrid_run(run_dir: Path, cfg: TrainConfig, ckpt: Path, output: Path, val: Path | None, notes: str) -> str:
    """A hybrid run's weights (no entropy tables: it codes no tokens) and its model card."""
    from .data import load_validation_clips
    from .hybrid import VALIDATION_VARIANT, HybridGenerator, evaluate_hybrid_clips

    model = build_network(cfg.model)
    assert isinstance(model, HYBRID_MODELS), "a hybrid run's recipe builds a hybrid"
    averaged = cfg.optim.ema_decay > 0
    state = load_checkpoint(ckpt, {"generator_ema" if averaged else "generator": HybridGenerator(model)})
    if state["absent_modules"]:
        raise CheckpointError(f"{ckpt}: the run's recipe averages weights, but this checkpoint holds no average")
    model.eval()
    dev = evaluate_hybrid_clips(model, load_validation_clips(val, cfg.model.size, PROTOCOL_FRAMES)) if val is not None else {}
    provenance = {
        "recipe": json.loads(cfg.to_json()),
        "steps": int(state["step"]),
        "weights": f"exponential moving average, decay {cfg.optim.ema_decay}" if averaged else "live",
        "trained_wall_seconds": round(trained_seconds(run_dir, cfg.data.batch_size, int(state["step"]))),
        "world_size": _world_size(run_dir),
        "exported_at": time.strftime("%Y-%m-%d"),
        "dev_metrics": {k: round(v, 3) for k, v in dev.items()},
        "dev_base_layer": {"side": VALIDATION_VARIANT[0], "crf": VALIDATION_VARIANT[1], "keyframe_quality": 4},
        "notes": notes,
    }
    model_id = save_weights(model, output, provenance=provenance)
    lines = [
        f"# Model card: hybrid `{cfg.model.preset}` ({cfg.model.size}²)",
        "",
        f"- Model id (SHA-256 of the .safetensors): `{model_id}`",
        f"- Parameters: {count_parameters(model) / 1e6:.2f} M",
        f"- Training: {provenance['steps']} steps, batch {cfg.data.batch_size} × {provenance['world_size']} worker(s), "
        f"{provenance['trained_wall_seconds'] / 60:.0f} minutes of wall-clock time, on the train split only; "
        f"base layers {list(cfg.data.base_variants)} (side, CRF[, frame step]).",
        f"- Losses: L1 ×{cfg.loss.lambda_l1}, MS-SSIM ×{cfg.loss.lambda_perceptual}, GAN ×{cfg.loss.lambda_gan}.",
        "",
        f"## Dev split (each clip one group: AV1 keyframe at --quality 4, base layer {VALIDATION_VARIANT[0]}², CRF {VALIDATION_VARIANT[1]})",
        "",
    ]
    if dev:
        lines += [
            "| hybrid PSNR-RGB (dB) | bicubic base (dB) | gain (dB) | kbps (keyframe + base) |",
            "|---|---|---|---|",
            f"| {dev['psnr']:.2f} | {dev['psnr_bicubic']:.2f} | {dev['gain_db']:+.2f} | {dev['kbps']:.2f} |",
        ]
    else:
        lines.append("Not evaluated at export (no --val given).")
    if notes:
        lines += ["", notes]
    atomic.write_text(output.with_suffix(".md"), "\n".join(lines) + "\n")
    return model_id
