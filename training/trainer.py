"""The training loop as a Trainer: one per worker process; DDP when torch's elastic launcher
started several (training/launcher.py).

The model is built from its config and knows nothing of training; the Trainer owns the
optimisers, AMP, DDP, losses, checkpoints, validation and logging. `train()` builds one and
runs it to the end.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from imfcodec.model import IMF
from imfcodec.model.prior import TokenPrior

from .. import atomic
from ..errors import ImfcodecError
from .checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_latest_intact,
    load_weights,
    resolve_checkpoint,
    save_checkpoint,
    sync_buffers,
    update_ema,
    weights_digest,
)
from .config import TrainConfig
from .data import FrameCache, build_frame_cache, curriculum_distance, load_validation_clips, open_frame_cache, sample_pairs
from .evaluate import evaluate_clips
from .losses import AdaptiveAugment, PatchDiscriminator, hinge_d_loss, hinge_g_loss, perceptual_loss, weighted_l1
from .monitor import ExternalLogger, TrainProgress, save_grid
from .runtime import Topology, amp_dtype, default_device, lr_factor


class TrainingDiverged(ImfcodecError):
    """The loss left its running average for good: the weights need an earlier checkpoint."""


class Generator(nn.Module):
    """IMF plus its token prior, so that DDP sees one module whose every parameter is used."""

    def __init__(self, model: IMF, prior: TokenPrior) -> None:
        super().__init__()
        self.model = model
        self.prior = prior

    def forward(self, reference: torch.Tensor, current: torch.Tensor, step: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = self.model(reference, current, token_noise=step)
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


def build_model(cfg: TrainConfig) -> tuple[IMF, TokenPrior]:
    return IMF(cfg.model), TokenPrior(cfg.model.token_dim)


class Trainer:
    """One worker's share of a run: `resume`, then `train_step` per step, each followed by
    `maybe_log`, `maybe_checkpoint` and `maybe_validate`; `fit` does all of it."""

    def __init__(self, cfg: TrainConfig, paths: RunPaths, device: str | torch.device, topology: Topology | None = None) -> None:
        self.cfg, self.paths = cfg, paths
        self.topo = topology or Topology.from_environment()
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.topo.local_rank)
        self.device = device
        if self.topo.world > 1:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        else:
            torch.set_num_threads(cfg.run.threads_per_worker or max(1, (os.cpu_count() or 1) // self.topo.local_world))
        torch.manual_seed(cfg.run.seed + self.topo.rank)
        self.amp_dtype = amp_dtype(cfg.run.amp, device)
        paths.out.mkdir(parents=True, exist_ok=True)
        self.cache = self._open_cache()
        want_val = paths.val is not None and self.topo.is_main and (cfg.run.val_every or cfg.run.max_minutes > 0)
        self.val_clips = load_validation_clips(paths.val, cfg.model.size, cfg.data.val_frames) if want_val and paths.val else {}

        self.gen = self.build_generator().to(device)
        self.model: nn.Module = cast(nn.Module, self.gen.model)
        self.disc = PatchDiscriminator().to(device) if cfg.loss.lambda_gan > 0 else None
        self.ada = AdaptiveAugment(cfg.loss.ada_target) if (self.disc is not None and cfg.loss.ada) else None
        self.perceptual = perceptual_loss(cfg.loss.vgg_weights).to(device)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas) if self.disc is not None else None
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.modules: dict[str, nn.Module] = {"generator": self.gen} | ({"discriminator": self.disc} if self.disc is not None else {})
        self.ema: nn.Module | None = None
        self.step = 0
        self.loss_average: float | None = None
        self.skipped = 0
        self.skipped_in_a_row = 0
        self.last_metrics: dict[str, Any] = {}

    def build_generator(self) -> nn.Module:
        """The module the optimiser trains: its `.model` is what is validated and exported."""
        model, prior = build_model(self.cfg)
        return Generator(model, prior)

    def sample(self, step: int, max_distance: int) -> dict[str, torch.Tensor]:
        """This rank's batch for `step` on the device, pairs at most `max_distance` frames apart;
        "target" is what the output is compared with."""
        cfg = self.cfg
        ref, cur = sample_pairs(self.cache, step, self.topo.rank, cfg.data.batch_size, max_distance, cfg.data.same_frame_prob, cfg.run.seed)
        ref, cur = ref.to(self.device), cur.to(self.device)
        lo, hi = (math.log(v) for v in cfg.loss.token_step_range)
        if cfg.loss.token_noise_warmup_steps:
            hi = lo + (hi - lo) * min(1.0, step / cfg.loss.token_noise_warmup_steps)
        token_step = torch.exp(lo + (hi - lo) * torch.rand(ref.shape[0], 1, device=self.device))
        return {"reference": ref, "target": cur, "token_step": token_step}

    def reconstruct(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Under autocast: (recon (B, 3, S, S) fp32, the loss terms besides the reconstruction's
        own, logged values). IMF: the token's rate, in bits per token."""
        out = self.gen_ddp(batch["reference"], batch["target"], batch["token_step"])
        rate = out["bits"].mean()
        lambda_rate = self.cfg.loss.lambda_rate if step >= self.cfg.loss.rate_start else 0.0
        return out["recon"].float(), lambda_rate * rate, {"rate_bits_per_token": rate}

    def _open_cache(self) -> FrameCache:
        """Rank 0 builds the frame cache; the others wait for it and open it."""
        cfg, paths = self.cfg, self.paths
        root = paths.cache or paths.out / "cache"

        def build() -> Path:
            return build_frame_cache(paths.data, root, cfg.model.size, cfg.data.cache_max_frames, cfg.data.keyframe_qualities, cfg.run.seed)

        folder = build() if self.topo.is_main else None
        if self.topo.world > 1:
            dist.barrier()
        self.cache_folder = folder or build()
        return open_frame_cache(self.cache_folder)

    def resume(self, from_last_checkpoint: bool) -> None:
        """Continue the run folder's last checkpoint (when asked and there is one), else start
        from `init_from`'s weights with a fresh optimiser, else from scratch."""
        cfg = self.cfg
        ckpt = latest_checkpoint(self.paths.out) if from_last_checkpoint else None
        if ckpt is None and cfg.run.init_from:
            start = resolve_checkpoint(Path(cfg.run.init_from))
            if start is None:
                raise CheckpointError(f"{cfg.run.init_from}: neither a checkpoint folder nor a run folder with checkpoints")
            load_weights(start, {"generator": self.gen}, new_parts_ok=True)
        # An exponential moving average of the generator's weights, the model that is validated
        # and exported when the recipe asks for one: single checkpoints swing by tenths of a dB.
        if cfg.optim.ema_decay > 0:
            self.ema = copy.deepcopy(self.gen).requires_grad_(False)
            self.modules["generator_ema"] = self.ema
        found = load_latest_intact(self.paths.out, self.modules) if ckpt is not None else None
        if found is not None:
            ckpt, state = found
            if self.ema is not None and "generator_ema" in state["absent_modules"]:
                self.ema.load_state_dict(self.gen.state_dict())  # the average starts where it was switched on
            self.opt_g.load_state_dict(state["opt_g"])
            if self.opt_d is not None:
                self.opt_d.load_state_dict(state["opt_d"])
            self.scaler.load_state_dict(state["scaler"])
            rng = state["rng"]
            torch.set_rng_state(rng[self.topo.rank] if self.topo.rank < len(rng) else rng[0])
            if self.ada is not None:
                self.ada.p = float(state.get("ada_p", 0.0))
            self.step = int(state["step"])
        ids = [self.topo.local_rank] if self.device.type == "cuda" else None
        self.gen_ddp: nn.Module = DDP(self.gen, device_ids=ids) if self.topo.world > 1 else self.gen
        self.disc_ddp: nn.Module | None = self.disc
        if self.topo.world > 1 and self.disc is not None:
            self.disc_ddp = DDP(self.disc, device_ids=ids)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None)

    def train_step(self) -> dict[str, Any]:
        """One generator update (and one discriminator update once the GAN is on) at self.step;
        advances self.step. Returns this step's tensors and numbers for logging."""
        cfg, step = self.cfg, self.step
        for group in self.opt_g.param_groups:
            group["lr"] = cfg.optim.lr * lr_factor(step, cfg)
        max_d = curriculum_distance(step, cfg.data.curriculum_start, cfg.data.max_distance, cfg.data.curriculum_steps)
        batch = self.sample(step, max_d)
        cur = batch["target"]
        gan_on = self.disc_ddp is not None and step >= cfg.loss.gan_start
        ada = self.ada

        with self._autocast():
            recon, extra, logs = self.reconstruct(batch, step)
            l1 = weighted_l1(recon, cur, cfg.loss.lower_third_weight)
            perc = self.perceptual(recon, cur)
            g_adv = hinge_g_loss(self.disc_ddp(ada(recon) if ada else recon)) if gan_on and self.disc_ddp else recon.new_zeros(())
        reconstruction = cfg.loss.lambda_l1 * l1 + cfg.loss.lambda_perceptual * perc + extra
        loss = reconstruction + cfg.loss.lambda_gan * g_adv
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt_g)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.gen.parameters(), cfg.optim.grad_clip)
        # Spike guard: skip the update when the (all-ranks mean) reconstruction loss is not
        # finite or far above its running average; every rank sees the same value, so all skip
        # together. The adversarial term is left out: the hinge loss is unbounded, on its own
        # scale, and grows as the discriminator learns; judged with the rest, it locked the
        # generator out while the discriminator kept training (docs/TRAINING.md, the GAN run).
        shared = torch.stack([reconstruction.detach().float(), loss.detach().float()])
        if self.topo.world > 1:
            dist.all_reduce(shared)
            shared /= self.topo.world
        spike = not bool(torch.isfinite(shared).all()) or (
            self.loss_average is not None and float(shared[0]) > cfg.optim.spike_factor * self.loss_average
        )
        if spike:
            self.skipped += 1
            self.skipped_in_a_row += 1
            self.opt_g.zero_grad(set_to_none=True)
            if self.skipped_in_a_row >= cfg.optim.max_skips_in_a_row:
                raise TrainingDiverged(
                    f"training diverged: {self.skipped_in_a_row} updates in a row skipped by step {step + 1} "
                    f"(loss {float(shared[0]):.3g} against a running {self.loss_average or 0.0:.3g}); resume from an earlier "
                    "checkpoint (delete the later ones) with a lower learning rate"
                )
        else:
            self.skipped_in_a_row = 0
            self.loss_average = float(shared[0]) if self.loss_average is None else 0.98 * self.loss_average + 0.02 * float(shared[0])
        self.scaler.step(self.opt_g)
        if self.ema is not None and not spike:
            update_ema(self.ema, self.gen, min(cfg.optim.ema_decay, (1 + step) / (10 + step)))

        d_loss = torch.zeros(())
        # No discriminator step on a skipped update either: it would learn against a generator
        # that does not move (and from a reconstruction that may not be finite).
        if gan_on and not spike and self.opt_d is not None and self.disc_ddp is not None:
            for group in self.opt_d.param_groups:
                group["lr"] = cfg.optim.lr * lr_factor(step, cfg)
            with self._autocast():
                real_logits = self.disc_ddp(ada(cur) if ada else cur)
                fake_logits = self.disc_ddp(ada(recon.detach()) if ada else recon.detach())
                d_loss = hinge_d_loss(real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler.scale(d_loss).backward()
            self.scaler.step(self.opt_d)
            if ada:
                ada.update([r.detach().float() for r in real_logits])
        self.scaler.update()
        self.step = step + 1
        shown = batch.get("reference", batch.get("keyframe", cur))
        return {
            "images": (shown, cur, recon.detach()),
            "values": {"loss": loss, "l1": l1, "perceptual": perc, **logs, "gan_g": g_adv, "gan_d": d_loss},
            "grad_norm": grad_norm,
            "max_distance": max_d,
        }

    def maybe_log(self, out: dict[str, Any], samples_per_s: float, progress: TrainProgress, sink: ExternalLogger | None) -> bool:
        """Append a metrics.jsonl line every log_every steps (main rank). True when it logged."""
        done, cfg = self.step, self.cfg
        if self.topo.is_main and cfg.run.image_every and done % cfg.run.image_every == 0:
            save_grid(self.paths.out / "images" / f"step_{done:07d}.png", *out["images"])
        if not (self.topo.is_main and (done % cfg.run.log_every == 0 or done == cfg.run.steps)):
            return False
        self.last_metrics = {
            "step": done,
            **{k: float(v.detach()) for k, v in out["values"].items()},
            "ada_p": self.ada.p if self.ada else 0.0,
            "grad_norm": float(out["grad_norm"]),
            "lr": self.opt_g.param_groups[0]["lr"],
            "max_distance": out["max_distance"],
            "samples_per_s": samples_per_s,
            "world_size": self.topo.world,
            "skipped_steps": self.skipped,
        }
        with open(self.paths.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(self.last_metrics) + "\n")
        progress.update(done, self.last_metrics)
        if sink:
            sink.log(done, self.last_metrics)
        return True

    def maybe_checkpoint(self, force: bool = False) -> None:
        """Every checkpoint_every steps, at the end and when `force`d. Collective: all ranks call it."""
        done, cfg, world = self.step, self.cfg, self.topo.world
        if not cfg.run.checkpoint_every or not (force or done % cfg.run.checkpoint_every == 0 or done == cfg.run.steps):
            return
        sync_buffers(self.gen, world)
        rng: list[Any] = [torch.get_rng_state()]
        if world > 1:
            rng = [None] * world
            dist.all_gather_object(rng, torch.get_rng_state())
        if self.topo.is_main:
            state = {
                "step": done,
                "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict() if self.opt_d is not None else {},
                "scaler": self.scaler.state_dict(),
                "rng": rng,
                "ada_p": self.ada.p if self.ada else 0.0,
            }
            save_checkpoint(self.paths.out, done, self.modules, state, cfg.run.keep_checkpoints)
        if world > 1:
            dist.barrier()

    def all_agree(self, flag: bool) -> bool:
        """Whether any rank says `flag` (a collective: every rank calls it, every step)."""
        if self.topo.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def maybe_validate(self, progress: TrainProgress, sink: ExternalLogger | None, force: bool = False) -> None:
        """Dev-clip metrics every val_every steps, at the end and when `force`d (main rank, with --val)."""
        done, cfg = self.step, self.cfg
        if not (self.val_clips and (force or cfg.run.val_every and (done % cfg.run.val_every == 0 or done == cfg.run.steps))):
            return
        val = {"step": done, **{f"val_{k}": v for k, v in self.evaluate(self.model).items()}}
        if self.ema is not None:
            val |= {f"val_ema_{k}": v for k, v in self.evaluate(cast(nn.Module, self.ema.model)).items()}
        with open(self.paths.out / "validation.jsonl", "a") as f:
            f.write(json.dumps(val) + "\n")
        if sink:
            sink.log(done, val)
        progress.note(self.describe_validation(val))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Dev-clip metrics of `model` (the live weights or their average), as the codec decodes."""
        assert isinstance(model, IMF)
        return evaluate_clips(model, self.val_clips)

    def describe_validation(self, val: dict[str, Any]) -> str:
        return (
            f"step {val['step']}: val PSNR {val['val_psnr']:.2f} dB (freeze {val['val_psnr_freeze']:.2f}), "
            f"self {val['val_psnr_self']:.1f} dB (near {val['val_psnr_self_near']:.1f}), "
            f"own-token gain {val['val_psnr_gain_own_token']:+.2f} dB"
        )

    def fit(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train to cfg.run.steps. `stop_after` ends early at that step, as a kill would (tests
        use it); the checkpoint written there is what a resume sees. Returns the last metrics."""
        cfg, main = self.cfg, self.topo.is_main
        if main:
            atomic.write_text(self.paths.out / "config.json", cfg.to_json())
        progress = TrainProgress(cfg.run.steps, self.step, enabled=main)
        sink = ExternalLogger(cfg.run.logger, self.paths.out, cfg) if main else None
        t_last, samples = time.time(), 0
        deadline = time.time() + cfg.run.max_minutes * 60 if cfg.run.max_minutes > 0 else None
        while self.step < cfg.run.steps:
            out = self.train_step()
            samples += cfg.data.batch_size * self.topo.world
            if self.maybe_log(out, samples / max(time.time() - t_last, 1e-9), progress, sink):
                t_last, samples = time.time(), 0
            out_of_time = deadline is not None and self.all_agree(time.time() >= deadline)
            self.maybe_checkpoint(force=self.step == stop_after or out_of_time)
            self.maybe_validate(progress, sink, force=out_of_time)
            if out_of_time or (stop_after is not None and self.step >= stop_after):
                break
        progress.close()
        if sink:
            sink.close()
        self.close()
        return self.last_metrics

    def close(self) -> None:
        sync_buffers(self.gen, self.topo.world)
        # Each rank records a digest of its weights: DDP keeps them identical, and this shows it.
        atomic.write_text(self.paths.out / f"weights-rank{self.topo.rank}.sha256", weights_digest(self.gen) + "\n")
        if self.topo.world > 1:
            # A broadcast's root can return before its peers have read everything; tearing the
            # group down then would cut their connections mid-read (gloo aborts the process).
            dist.barrier()
            dist.destroy_process_group()


def train(
    cfg: TrainConfig, paths: RunPaths, device: str | None = None, resume: bool = False, stop_after: int | None = None
) -> dict[str, Any]:
    """Run (or continue, with `resume`) training on `device` (default: CUDA when present)."""
    kind = Trainer
    if cfg.model.architecture == "hybrid":
        from .hybrid import HybridTrainer

        kind = HybridTrainer
    trainer = kind(cfg, paths, device or default_device())
    trainer.resume(from_last_checkpoint=resume)
    return trainer.fit(stop_after)
