"""Validation the way the codec decodes: the decoded first frame is the keyframe, tokens
are quantised against the previous decoded token, and every number is set beside the
freeze-frame codec (repeat the keyframe). Also the collapse detectors: token spread
within a clip, entropy of the quantised token residuals, and the PSNR gain of each
frame's own token over the keyframe's token."""

from __future__ import annotations

import numpy as np
import torch

from imfcodec.codec.keyframes import DEFAULT_KEYFRAME_CODEC, get_codec
from imfcodec.codec.tokens import quantize_tokens
from imfcodec.model import IMF
from imfcodec.model.prior import quality_step

BUCKETS = ((1, 25), (26, 100), (101, 250))


def psnr_per_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PSNR-RGB in dB per frame of uint8 (T, H, W, 3) pairs (peak 255); identical frames give 100."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    return np.where(mse > 0, 10 * np.log10(255.0**2 / np.maximum(mse, 1e-12)), 100.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] -> (B, H, W, 3) uint8, rounded."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def to_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(frames, copy=True)).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def evaluate_clip(model: IMF, frames: np.ndarray, quality: int = 4, batch: int = 16) -> dict[str, float]:
    """One clip (T, S, S, 3) uint8 with frame 0 as keyframe. Returns dB, bits and ratios."""
    codec = get_codec(DEFAULT_KEYFRAME_CODEC)
    key = codec.decode(codec.encode(frames[0], quality))
    device = next(model.parameters()).device
    state = model.prepare_reference(to_float(key[None]).to(device))
    tokens = torch.cat([model.encode_tokens(to_float(frames[i : i + batch]).to(device)) for i in range(1, len(frames), batch)])
    start = state.token[0].double().cpu().numpy()
    q, decoded = quantize_tokens(tokens.double().cpu().numpy(), start, quality_step(quality))
    decoded_t = torch.from_numpy(decoded).float().to(device)
    recon, recon_keytoken = [], []
    for i in range(0, len(decoded_t), batch):
        chunk = decoded_t[i : i + batch]
        recon.append(to_uint8(model.decode(state, chunk)))
        recon_keytoken.append(to_uint8(model.decode(state, state.token.expand(len(chunk), -1))))
    rec = np.concatenate(recon)
    rec_key = np.concatenate(recon_keytoken)
    target = frames[1:]
    p_model = psnr_per_frame(rec, target)
    p_freeze = psnr_per_frame(np.broadcast_to(key, target.shape), target)
    p_keytoken = psnr_per_frame(rec_key, target)
    self_rec = to_uint8(
        model.decode(model.prepare_reference(to_float(frames[:1]).to(device)), model.encode_tokens(to_float(frames[:1]).to(device)))
    )
    out: dict[str, float] = {
        "psnr": float(p_model.mean()),
        "psnr_freeze": float(p_freeze.mean()),
        "psnr_gain_own_token": float((p_model - p_keytoken).mean()),
        "psnr_self": float(psnr_per_frame(self_rec, frames[:1])[0]),
        "token_spread": float(tokens.std(dim=0).mean()),
        "residual_zero_fraction": float((q == 0).mean()),
        "residual_entropy_bits": _entropy_bits(q),
    }
    for lo, hi in BUCKETS:
        sel = slice(lo - 1, min(hi, len(target)))
        if sel.start < len(target):
            out[f"psnr_{lo}_{hi}"] = float(p_model[sel].mean())
            out[f"psnr_freeze_{lo}_{hi}"] = float(p_freeze[sel].mean())
    return out


def _entropy_bits(q: np.ndarray) -> float:
    """Empirical entropy per token of the integer residuals, bits (sum over dimensions)."""
    total = 0.0
    for column in q.T:
        _, counts = np.unique(column, return_counts=True)
        p = counts / counts.sum()
        total += float(-(p * np.log2(p)).sum())
    return total


def evaluate_clips(model: IMF, clips: dict[str, np.ndarray], quality: int = 4) -> dict[str, float]:
    """Mean of evaluate_clip over clips (each clip weighs the same)."""
    was_training = model.training
    model.eval()
    per_clip = [evaluate_clip(model, frames, quality) for frames in clips.values()]
    model.train(was_training)
    keys = set().union(*per_clip)
    return {k: float(np.mean([c[k] for c in per_clip if k in c])) for k in sorted(keys)}
