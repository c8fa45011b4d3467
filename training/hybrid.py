"""Training the hybrid model: real decoded base pictures in the frame cache, pairs of
(keyframe, its base picture, a frame's base picture) -> that frame, and validation set
beside the bicubic base it refines.

The base pictures are made the way the codec makes them: each clip's frames, area-
downscaled, coded by SVT-AV1 in closed GOPs of BASE_GOP frames at each (side, CRF) of the
recipe, and decoded by dav1d; the keyframes are the cache's AV1-degraded references.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from imfcodec.codec.hybrid.base_layer import base_pictures, decode_base, downscale, encode_base, fill_skipped
from imfcodec.codec.hybrid.decode import decode_hybrid_group, neighbour_positions, reference_picture, upsampled_frames
from imfcodec.codec.hybrid.motion_fill import choose_offsets
from imfcodec.codec.keyframes import DEFAULT_KEYFRAME_CODEC, get_codec
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model.build import HybridModel, build_model
from imfcodec.model.flow_hybrid import FlowHybrid
from imfcodec.model.hybrid import HybridIMF
from imfcodec.rate import kbps

from ..atomic import atomic_path
from ..errors import ConfigError
from .data import FrameCache, parallel_map
from .trainer import Trainer

BASE_GOP = 250  # frames per closed GOP in the cache: the codec's default --max-keyframe-interval
VALIDATION_VARIANT = (96, 50)  # (side, CRF) of the base layer the dev numbers are measured at


FLOW_TRAIN_CROP = 128  # hybrid v2 trains its refiner on this window of each frame (the flow on whole frames)


class HybridGenerator(nn.Module):
    """The hybrid model as the optimiser sees it (one module for DDP)."""

    def __init__(self, model: HybridModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        keyframe: torch.Tensor,
        keyframe_base: torch.Tensor,
        bases: torch.Tensor,
        frames: torch.Tensor,
        crop: tuple[int, int, int] | None = None,
        neighbours: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (frames (B, 3, S, S), or the `crop` window of them (hybrid v2), the tokens' bits
        (B,), zero for a model without tokens). `neighbours` (B, 2, 3, b, b): hybrid v2's."""
        if isinstance(self.model, FlowHybrid):
            return self.model(keyframe, keyframe_base, bases, frames, crop=crop, neighbours=neighbours)
        if crop is not None:
            raise ValueError("only hybrid v2 trains on a window")
        return self.model(keyframe, keyframe_base, bases, frames)


MOTION = 1  # a base variant's fourth element: its skipped frames drawn by motion (motion_fill.py), not blended
TIMED = 2  # ... drawn by motion at the times the encoder would send (the timed fill, chosen against the frames)
_FILLS = {0: "linear", MOTION: "motion", TIMED: "timed"}


def variant_parts(variant: tuple[int, ...]) -> tuple[int, int, int]:
    """A base variant (side, CRF), (side, CRF, step) or (side, CRF, step, MOTION) as (side, CRF, step)."""
    side, crf, step = (*variant, 1)[:3]
    return side, crf, step


def variant_fill(variant: tuple[int, ...]) -> str:
    """How a variant's skipped frames are filled, as the decoder fills them: "motion" for
    (side, CRF, step, MOTION), "timed" for (side, CRF, step, TIMED), else "linear" (the
    integer blend)."""
    return _FILLS.get(variant[3], "linear") if len(variant) > 3 else "linear"


def build_base_cache(folder: Path, cache: FrameCache, variants: tuple[tuple[int, ...], ...]) -> dict[tuple[int, ...], np.ndarray]:
    """Decoded base pictures aligned with cache.frames, (N, side, side, 3) uint8 per variant
    (side, CRF[, step[, MOTION]]); made once per cache folder and variant, then memory-mapped."""
    bases = {}
    for variant in variants:
        side, crf, step = variant_parts(variant)
        fill = variant_fill(variant)
        if len(variant) > 4 or (len(variant) == 4 and variant[3] not in _FILLS):
            raise ConfigError(f"base variant {list(variant)}: expected (side, CRF[, step[, {MOTION} = drawn by motion, {TIMED} = timed]])")
        name = f"bases-{side}-crf{crf}" + ("" if step == 1 else f"-step{step}") + (f"-{fill}" if fill != "linear" and step > 1 else "")
        path = folder / f"{name}.npy"
        if not path.is_file():
            gops = [
                closed_gop(int(start), int(length), a)
                for start, length in zip(cache.clip_start, cache.clip_length)
                for a in range(int(start), int(start + length), BASE_GOP)
            ]
            pictures = parallel_map(_code_base, [(np.asarray(cache.frames[a:b]), side, crf, step, fill) for a, b in gops])
            out = np.empty((len(cache.frames), side, side, 3), dtype=np.uint8)
            for (a, b), low in zip(gops, pictures):
                out[a:b] = low
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, out)
        bases[tuple(variant)] = np.load(path, mmap_mode="r")
    return bases


def closed_gop(start: int, length: int, frame: int) -> tuple[int, int]:
    """The cache's closed GOP [a, b) that holds `frame` of the clip at [start, start + length):
    each clip is coded in runs of BASE_GOP frames from its first."""
    a = start + (frame - start) // BASE_GOP * BASE_GOP
    return a, min(a + BASE_GOP, start + length)


def _code_base(frames: np.ndarray, side: int, crf: int, step: int = 1, fill: str = "linear") -> np.ndarray:
    """One closed GOP of frames (T, S, S, 3) through the base layer: (T, side, side, 3)
    decoded, every step-th frame coded and the others filled (`fill`) as the decoder does;
    "timed": at the offsets the encoder would choose against these frames."""
    if fill != "timed":
        return base_pictures(encode_base(downscale(frames[::step], side), crf), len(frames), step, fill)
    truth = downscale(frames, side)
    coded = decode_base(encode_base(truth[::step], crf), len(truth[::step]))
    return fill_skipped(coded, len(frames), step, fill, choose_offsets(coded, truth, step))


def sample_hybrid_pairs(
    cache: FrameCache,
    bases: dict[tuple[int, ...], np.ndarray],
    step: int,
    rank: int,
    batch: int,
    max_distance: int,
    seed: int,
    no_keyframe_share: float = 0.0,
    neighbours: bool = False,
) -> dict[str, torch.Tensor]:
    """keyframe (B, 3, S, S), keyframe_base and bases (B, 3, b, b), target (B, 3, S, S), and
    with `neighbours` (a model that reads them) neighbours (B, 2, 3, b, b): the coded base
    pictures around the frame in its closed GOP of the cache, as the decoder's
    neighbour_positions names them (read without a random draw); in [0, 1]; one base
    variant per batch; with probability `no_keyframe_share` a row's
    "keyframe" is its keyframe base picture upscaled (reference_picture), as in a group
    without a keyframe picture. A pure function of (seed, rank, step), like sample_pairs."""
    rng = np.random.default_rng([seed, rank, step, 1])
    variants = sorted(bases)
    variant = variants[int(rng.integers(len(variants)))]
    low, base_step = bases[variant], variant_parts(variant)[2]
    rows: list[list[np.ndarray]] = []
    for _ in range(batch):
        r = int(rng.integers(len(cache.ref_frame)))
        clip = int(cache.ref_clip[r])
        start, length = int(cache.clip_start[clip]), int(cache.clip_length[clip])
        ref_pos = int(cache.ref_frame[r])
        d = int(rng.integers(1, max(1, max_distance) + 1)) * (1 if rng.random() < 0.5 else -1)
        cur_pos = min(max(ref_pos + d, start), start + length - 1)
        keyframe = cache.refs[r]
        if no_keyframe_share and rng.random() < no_keyframe_share:  # no draw without it: older recipes sample as before
            keyframe = reference_picture(np.asarray(low[ref_pos : ref_pos + 1]), cache.frames.shape[1])
        images = [keyframe, low[ref_pos], low[cur_pos], cache.frames[cur_pos]]
        if neighbours:
            gop, gop_end = closed_gop(start, length, cur_pos)
            around = gop + neighbour_positions(gop_end - gop, base_step)[cur_pos - gop]
            images += [low[around[0]], low[around[1]]]
        flip = rng.random() < 0.5
        rows.append([np.asarray(im[:, ::-1] if flip else im, dtype=np.float32) / 255.0 for im in images])

    def stack(i: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack([row[i] for row in rows]))).permute(0, 3, 1, 2).contiguous()

    batch_out = {"keyframe": stack(0), "keyframe_base": stack(1), "bases": stack(2), "target": stack(3)}
    if neighbours:
        batch_out["neighbours"] = torch.stack([stack(4), stack(5)], dim=1)
    return batch_out


@torch.no_grad()
def evaluate_hybrid_clip(
    model: HybridModel,
    frames: np.ndarray,
    variant: tuple[int, ...] = VALIDATION_VARIANT,
    fps: float = 25.0,
    fill: str = "linear",
    keyframe_picture: bool = True,
    low_delay: bool = False,
) -> dict[str, float]:
    """One clip (T, S, S, 3) uint8 as one keyframe group: AV1 keyframe at --quality 4 (or,
    without `keyframe_picture`, none: the first base picture upscaled is the reference), base
    layer at `variant` (side, CRF[, frame step], skipped frames filled by `fill`; random
    access, or `low_delay`). PSNR-RGB
    (dB) of the hybrid and of the bicubic base over frames 1..T-1, and the group's rate
    (kbps, keyframe + base)."""
    side, crf, step = variant_parts(variant)
    codec = get_codec(DEFAULT_KEYFRAME_CODEC)
    keyframe = codec.encode(frames[0], 4) if keyframe_picture else b""
    payload = encode_base(downscale(frames[::step], side), crf, low_delay)
    low = base_pictures(payload, len(frames), step, fill)
    device = next(model.parameters()).device
    token_bits = 0.0
    if isinstance(model, HybridIMF) and model.token_step:
        assert keyframe_picture, "the token model's tokens are residuals against its keyframe's"
        decoded, token_bits = decode_with_tokens(model, codec.decode(keyframe), low, frames, device)
    else:
        decoded = decode_hybrid_group(model, codec.decode(keyframe) if keyframe_picture else None, low, 16, device, step, low_delay)
    psnr = float(psnr_per_frame(decoded[1:], frames[1:]).mean())
    base_psnr = float(psnr_per_frame(upsampled_frames(low[1:], model.config.size), frames[1:]).mean())
    return {
        "psnr": psnr,
        "psnr_bicubic": base_psnr,
        "gain_db": psnr - base_psnr,
        "kbps": kbps(len(keyframe) + len(payload), len(frames), fps),
        "token_kbps": token_bits / len(frames) * fps / 1000,
    }


@torch.no_grad()
def decode_with_tokens(
    model: HybridIMF, keyframe: np.ndarray, bases: np.ndarray, frames: np.ndarray, device: torch.device, batch_size: int = 16
) -> tuple[np.ndarray, float]:
    """A token model's group: decoded keyframe (S, S, 3), base pictures (T, b, b, 3) and the
    original frames (T, S, S, 3), uint8 -> (frames (T, S, S, 3) uint8, the tokens' bits under
    the model's factorised prior, frames 1..T-1). No codec path carries tokens beside a base
    layer: this is the measurement that decides whether one should."""
    reference = model.prepare_reference(frames_to_tensor(keyframe[None], device), frames_to_tensor(bases[:1], device))
    out, bits = [keyframe[None]], 0.0
    for b in range(1, len(bases), batch_size):
        residual = model.quantise(model.token_residual(reference, frames_to_tensor(frames[b : b + batch_size], device)), noise=False)
        bits += float(model.token_prior.bits(residual, model.token_step).sum())
        out.append(tensor_to_frames(model.decode(reference, frames_to_tensor(bases[b : b + batch_size], device), residual)))
    return np.concatenate(out), bits


def evaluate_hybrid_clips(model: HybridModel, clips: dict[str, np.ndarray], keyframe_picture: bool = True) -> dict[str, float]:
    """Mean of evaluate_hybrid_clip over the clips."""
    was_training = model.training
    model.eval()
    rows = [evaluate_hybrid_clip(model, c, keyframe_picture=keyframe_picture) for c in clips.values() if len(c) > 1]
    model.train(was_training)
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


class HybridTrainer(Trainer):
    """The Trainer for `architecture = "hybrid"`: base pictures in the cache; the rate term
    only for a model with a token (`hybrid_token_step`)."""

    def _open_cache(self) -> FrameCache:
        """The frame cache, and beside it the decoded base pictures of each recipe variant."""
        if not self.cfg.data.base_variants:
            raise ConfigError("a hybrid recipe needs data.base_variants: the (side, CRF) base layers to train on")
        cache = super()._open_cache()
        self.bases = build_base_cache(self.cache_folder, cache, self.cfg.data.base_variants)
        return cache

    def build_generator(self) -> nn.Module:
        return HybridGenerator(build_model(self.cfg.model))  # type: ignore[arg-type]  # a hybrid recipe builds a hybrid

    def sample(self, step: int, max_distance: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        batch = sample_hybrid_pairs(
            self.cache,
            self.bases,
            step,
            self.topo.rank,
            cfg.data.batch_size,
            max_distance,
            cfg.run.seed,
            cfg.data.no_keyframe_share,
            neighbours=cfg.model.neighbour_pictures > 0,
        )
        self.crop = None
        size = cfg.model.size
        if cfg.model.hybrid_reference == "flow" and size > FLOW_TRAIN_CROP:
            rng = np.random.default_rng([cfg.run.seed, self.topo.rank, step, 2])
            r = cfg.model.refiner_scale  # the window on the refiner's pixel grid, as at decode
            top, left = (r * int(rng.integers((size - FLOW_TRAIN_CROP) // r + 1)) for _ in range(2))
            self.crop = (top, left, FLOW_TRAIN_CROP)
            batch["target"] = batch["target"][..., top : top + FLOW_TRAIN_CROP, left : left + FLOW_TRAIN_CROP].contiguous()
        return {k: v.to(self.device) for k, v in batch.items()}

    def reconstruct(self, batch: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        recon, bits = self.gen_ddp(
            batch["keyframe"], batch["keyframe_base"], batch["bases"], batch["target"], getattr(self, "crop", None), batch.get("neighbours")
        )
        if not self.cfg.model.hybrid_token_step:
            return recon.float(), recon.new_zeros(()), {}
        rate = bits.mean()
        return recon.float(), self.cfg.loss.lambda_rate * rate, {"rate_bits_per_token": rate}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        assert isinstance(model, (HybridIMF, FlowHybrid))
        return evaluate_hybrid_clips(model, self.val_clips, keyframe_picture=not self.cfg.data.no_keyframe_share)

    def describe_validation(self, val: dict[str, Any]) -> str:
        return (
            f"step {val['step']}: val PSNR {val['val_psnr']:.2f} dB, bicubic base {val['val_psnr_bicubic']:.2f} dB "
            f"({val['val_gain_db']:+.2f} dB) at {val['val_kbps']:.1f} kbps"
        )
