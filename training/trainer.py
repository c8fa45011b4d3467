"""The training loop: one process per worker; DDP when launched by torch's elastic launcher.

The model is built from its config and knows nothing of training; this file owns the
optimiser, AMP, DDP, losses, logging and checkpoints.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from imfcodec.frames import tensor_to_frames
from imfcodec.model import IMF, preset
from imfcodec.model.prior import TokenPrior

from .. import atomic
from ..errors import ConfigError
from .checkpoint import latest_checkpoint, load_checkpoint, load_weights, resolve_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import build_frame_cache, curriculum_distance, load_validation_clips, open_frame_cache, sample_pairs
from .evaluate import evaluate_clips
from .losses import AdaptiveAugment, PatchDiscriminator, hinge_d_loss, hinge_g_loss, perceptual_loss


class Generator(nn.Module):
    """IMF plus its token prior, so that DDP sees one module whose every parameter is used."""

    def __init__(self, model: IMF, prior: TokenPrior) -> None:
        super().__init__()
        self.model = model
        self.prior = prior

    def forward(self, reference: torch.Tensor, current: torch.Tensor, step: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(reference, current, token_noise=step)
        with torch.autocast(device_type=reference.device.type, enabled=False):
            # Rate stays in fp32: bits per token of the residual against the reference token.
            out["bits"] = self.prior.bits(out["token"].float() - out["ref_token"].float(), step.float())
        return out


@dataclass
class RunPaths:
    data: Path
    out: Path
    val: Path | None = None
    cache: Path | None = None


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def build_model(cfg: TrainConfig) -> tuple[IMF, TokenPrior]:
    model = IMF(preset(cfg.preset, size=cfg.size, token_dim=cfg.token_dim))
    return model, TokenPrior(cfg.token_dim)


def train(cfg: TrainConfig, paths: RunPaths, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """Run (or continue) training. `stop_after` ends the process early at that step, as a
    kill would (tests use it); the checkpoint written at that step is what resume sees."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and os.environ.get("IMFCODEC_TRAIN_DEVICE", "cuda") == "cuda"
    device = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(device)
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        torch.set_num_threads(cfg.threads_per_worker or max(1, (os.cpu_count() or 1) // local_world))
    torch.manual_seed(cfg.seed + rank)
    amp_dtype = _amp_dtype(cfg.amp, device)
    is_main = rank == 0
    paths.out.mkdir(parents=True, exist_ok=True)

    # Data: rank 0 builds the cache, the others wait and open it.
    cache_root = paths.cache or paths.out / "cache"
    if is_main:
        folder = build_frame_cache(paths.data, cache_root, cfg.size, cfg.cache_max_frames, cfg.keyframe_qualities, cfg.seed)
    if world > 1:
        dist.barrier()
    if not is_main:
        folder = build_frame_cache(paths.data, cache_root, cfg.size, cfg.cache_max_frames, cfg.keyframe_qualities, cfg.seed)
    cache = open_frame_cache(folder)
    val_clips = load_validation_clips(paths.val, cfg.size, cfg.val_frames) if (paths.val and is_main and cfg.val_every) else {}

    model, prior = build_model(cfg)
    gen = Generator(model, prior).to(device)
    disc = PatchDiscriminator().to(device) if cfg.lambda_gan > 0 else None
    ada = AdaptiveAugment(cfg.ada_target) if (disc is not None and cfg.ada) else None
    perceptual = perceptual_loss(cfg.vgg_weights).to(device)
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=cfg.betas) if disc is not None else None
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    start_step = 0
    modules: dict[str, nn.Module] = {"generator": gen} | ({"discriminator": disc} if disc is not None else {})
    ckpt = latest_checkpoint(paths.out) if resume else None
    if ckpt is None and cfg.init_from:
        start = resolve_checkpoint(Path(cfg.init_from))
        if start is None:
            raise FileNotFoundError(f"{cfg.init_from}: neither a checkpoint folder nor a run folder with checkpoints")
        load_weights(start, {"generator": gen})
    # An exponential moving average of the generator's weights, the model that is validated
    # and exported when the recipe asks for one: single checkpoints swing by tenths of a dB.
    ema = copy.deepcopy(gen).requires_grad_(False) if cfg.ema_decay > 0 else None
    if ema is not None:
        modules["generator_ema"] = ema
    if resume:
        if ckpt is not None:
            state = load_checkpoint(ckpt, modules)
            if ema is not None and "generator_ema" in state["absent_modules"]:
                ema.load_state_dict(gen.state_dict())  # the average starts where EMA was switched on
            opt_g.load_state_dict(state["opt_g"])
            if opt_d is not None:
                opt_d.load_state_dict(state["opt_d"])
            scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
            if ada is not None:
                ada.p = float(state.get("ada_p", 0.0))
            start_step = int(state["step"])
    if world > 1:
        gen_ddp: nn.Module = DDP(gen, device_ids=[local_rank] if use_cuda else None)
        disc_ddp = DDP(disc, device_ids=[local_rank] if use_cuda else None) if disc is not None else None
    else:
        gen_ddp, disc_ddp = gen, disc

    metrics_file = paths.out / "metrics.jsonl"
    if is_main:
        atomic.write_text(paths.out / "config.json", cfg.to_json())
    progress = _Progress(cfg.steps, start_step, enabled=is_main)
    sink = ExternalLogger(cfg.logger, paths.out, cfg) if is_main else None
    last: dict[str, Any] = {}
    t_last, samples = time.time(), 0
    loss_ema: float | None = None
    skipped = 0
    for step in range(start_step, cfg.steps):
        for group in opt_g.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg)
        max_d = curriculum_distance(step, cfg.curriculum_start, cfg.max_distance, cfg.curriculum_steps)
        ref, cur = sample_pairs(
            cache, step, rank, cfg.batch_size, max_d, cfg.same_frame_prob, cfg.seed, cfg.same_frame_identity, cfg.clean_ref_prob
        )
        ref, cur = ref.to(device), cur.to(device)
        lo, hi = (math.log(v) for v in cfg.token_step_range)
        if cfg.token_noise_warmup_steps:
            hi = lo + (hi - lo) * min(1.0, step / cfg.token_noise_warmup_steps)
        token_step = torch.exp(lo + (hi - lo) * torch.rand(ref.shape[0], 1, device=device))
        gan_on = disc is not None and step >= cfg.gan_start

        with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            out = gen_ddp(ref, cur, token_step)
            recon = out["recon"].float()
            l1 = (recon - cur).abs().mean()
            perc = perceptual(recon, cur)
            g_adv = hinge_g_loss(disc_ddp(ada(recon) if ada else recon)) if gan_on else recon.new_zeros(())
        rate = out["bits"].mean() / cfg.token_dim  # bits per token entry
        lambda_rate = cfg.lambda_rate if step >= cfg.rate_start else 0.0
        loss = cfg.lambda_l1 * l1 + cfg.lambda_perceptual * perc + cfg.lambda_gan * g_adv + lambda_rate * rate * cfg.token_dim
        opt_g.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt_g)
        grad_norm = torch.nn.utils.clip_grad_norm_(gen.parameters(), cfg.grad_clip)
        # Spike guard: skip the update when the (all-ranks mean) loss is not finite or far
        # above its running average; every rank sees the same value, so all skip together.
        shared = loss.detach().float().clone()
        if world > 1:
            dist.all_reduce(shared)
            shared /= world
        spike = not torch.isfinite(shared) or (loss_ema is not None and float(shared) > cfg.spike_factor * loss_ema)
        if spike:
            skipped += 1
            opt_g.zero_grad(set_to_none=True)
        else:
            loss_ema = float(shared) if loss_ema is None else 0.98 * loss_ema + 0.02 * float(shared)
        scaler.step(opt_g)
        if ema is not None and not spike:
            update_ema(ema, gen, min(cfg.ema_decay, (1 + step) / (10 + step)))

        d_loss = torch.zeros(())
        if gan_on:
            assert opt_d is not None and disc_ddp is not None
            for group in opt_d.param_groups:
                group["lr"] = cfg.lr * lr_factor(step, cfg)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                real_logits = disc_ddp(ada(cur) if ada else cur)
                fake_logits = disc_ddp(ada(recon.detach()) if ada else recon.detach())
                d_loss = hinge_d_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(d_loss).backward()
            scaler.step(opt_d)
            if ada:
                ada.update([r.detach().float() for r in real_logits])
        scaler.update()
        samples += cfg.batch_size * world
        done = step + 1

        if is_main and (done % cfg.log_every == 0 or done == cfg.steps):
            now = time.time()
            last = {
                "step": done,
                "loss": loss.item(),
                "l1": l1.item(),
                "perceptual": perc.item(),
                "rate_bits_per_token": out["bits"].mean().item(),
                "gan_g": g_adv.item(),
                "gan_d": d_loss.item(),
                "ada_p": ada.p if ada else 0.0,
                "grad_norm": float(grad_norm),
                "lr": opt_g.param_groups[0]["lr"],
                "max_distance": max_d,
                "samples_per_s": samples / max(now - t_last, 1e-9),
                "world_size": world,
                "skipped_steps": skipped,
            }
            t_last, samples = now, 0
            with open(metrics_file, "a") as f:
                f.write(json.dumps(last) + "\n")
            progress.update(done, last)
            if sink:
                sink.log(done, last)
        if is_main and cfg.image_every and done % cfg.image_every == 0:
            _save_grid(paths.out / "images" / f"step_{done:07d}.png", ref, cur, recon.detach())
        if cfg.checkpoint_every and (done % cfg.checkpoint_every == 0 or done == cfg.steps or done == stop_after):
            _sync_buffers(gen, world)
            rng = [torch.get_rng_state()]
            if world > 1:
                gathered: list[Any] = [None] * world
                dist.all_gather_object(gathered, torch.get_rng_state())
                rng = gathered
            if is_main:
                state = {
                    "step": done,
                    "opt_g": opt_g.state_dict(),
                    "opt_d": opt_d.state_dict() if opt_d is not None else {},
                    "scaler": scaler.state_dict(),
                    "rng": rng,
                    "ada_p": ada.p if ada else 0.0,
                }
                save_checkpoint(paths.out, done, modules, state, cfg.keep_checkpoints)
            if world > 1:
                dist.barrier()
        if is_main and val_clips and cfg.val_every and (done % cfg.val_every == 0 or done == cfg.steps):
            val = {"step": done, **{f"val_{k}": v for k, v in evaluate_clips(model, val_clips).items()}}
            if ema is not None:
                val |= {f"val_ema_{k}": v for k, v in evaluate_clips(ema.model, val_clips).items()}
            with open(paths.out / "validation.jsonl", "a") as f:
                f.write(json.dumps(val) + "\n")
            if sink:
                sink.log(done, val)
            progress.note(
                f"step {done}: val PSNR {val['val_psnr']:.2f} dB (freeze {val['val_psnr_freeze']:.2f}), "
                f"self {val['val_psnr_self']:.1f} dB (near {val['val_psnr_self_near']:.1f}), own-token gain {val['val_psnr_gain_own_token']:+.2f} dB"
            )
        if stop_after is not None and done >= stop_after:
            break
    progress.close()
    if sink:
        sink.close()
    _sync_buffers(gen, world)
    # Each rank records a digest of its weights: DDP keeps them identical, and this shows it.
    atomic.write_text(paths.out / f"weights-rank{rank}.sha256", weights_digest(gen) + "\n")
    if world > 1:
        # A broadcast's root can return before its peers have read everything; tearing the
        # group down then would cut their connections mid-read (gloo aborts the process).
        dist.barrier()
        dist.destroy_process_group()
    return last


@torch.no_grad()
def update_ema(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers (TokenNorm's running
    statistics) are copied, since they are already averages."""
    for e, p in zip(ema.parameters(), live.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), live.buffers(), strict=True):
        e.copy_(b)


def _sync_buffers(module: nn.Module, world: int) -> None:
    """Give every rank rank 0's buffers (ET's running token statistics), as DDP does
    before each forward; after the last step they would otherwise differ per rank."""
    if world > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


def weights_digest(module: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ExternalLogger:
    """Optional TensorBoard or Weights & Biases logging (offline unless a wandb key is set).
    A missing package is a warning, not a failure: metrics.jsonl is always written."""

    def __init__(self, kind: str, out: Path, cfg: TrainConfig) -> None:
        self.writer: Any = None
        self.kind = kind
        if kind == "none":
            return
        import warnings

        try:
            if kind == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            elif kind == "wandb":
                import wandb  # type: ignore[import-not-found]

                mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
                self.writer = wandb.init(project="imfcodec", dir=str(out), mode=mode, config=json.loads(cfg.to_json()))
            else:
                raise ConfigError(f"unknown logger {kind!r} (none, tensorboard, wandb)")
        except ImportError:
            warnings.warn(f"--logger {kind}: package not installed; logging to metrics.jsonl only", stacklevel=2)

    def log(self, step: int, values: dict[str, Any]) -> None:
        numbers = {k: v for k, v in values.items() if isinstance(v, (int, float)) and k != "step"}
        if self.writer is None:
            return
        if self.kind == "tensorboard":
            for k, v in numbers.items():
                self.writer.add_scalar(k, v, step)
        else:
            self.writer.log(numbers, step=step)

    def close(self) -> None:
        if self.writer is not None:
            (self.writer.close if self.kind == "tensorboard" else self.writer.finish)()


class _Progress:
    """A rich progress bar on the main rank; silent elsewhere."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("train"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        if self.bar:
            info = (
                f"loss {metrics['loss']:.4f} l1 {metrics['l1']:.4f} bits {metrics['rate_bits_per_token']:.1f} "
                f"{metrics['samples_per_s']:.1f} samples/s"
            )
            self.bar.update(self.task, completed=step, info=info)

    def note(self, text: str) -> None:
        if self.bar:
            self.bar.console.print(text)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def _save_grid(path: Path, ref: torch.Tensor, cur: torch.Tensor, recon: torch.Tensor) -> None:
    """reference | current | reconstruction, one row per sample (up to 4)."""
    from imfcodec.codec.video_io import write_png

    rows = [torch.cat([ref[i], cur[i], recon[i].float()], dim=2) for i in range(min(4, ref.shape[0]))]
    grid = tensor_to_frames(torch.cat(rows, dim=1)[None])[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.ascontiguousarray(grid))
