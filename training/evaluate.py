"""Validation the way the codec decodes: the decoded first frame is the keyframe, tokens
are quantised against the previous decoded token, and every number is set beside the
freeze-frame codec (repeat the keyframe). Also the collapse detectors: token spread
within a clip, entropy of the quantised token residuals, and the PSNR gain of each
frame's own token over the keyframe's token."""

from __future__ import annotations

import numpy as np
import torch

from imfcodec.bench.metrics import ms_ssim_per_frame
from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.codec.keyframes import DEFAULT_KEYFRAME_CODEC, get_codec
from imfcodec.codec.tokens.quantize import quantize_tokens
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model import IMF
from imfcodec.quality import quality_step

BUCKETS = ((1, 25), (26, 100), (101, PROTOCOL_FRAMES))
NEAR_SELF_DISTANCE = 0.3  # token units: the median quantisation error at --quality 4


@torch.no_grad()
def evaluate_clip(model: IMF, frames: np.ndarray, quality: int = 4, batch: int = 16) -> dict[str, float]:
    """One clip (T, S, S, 3) uint8 with frame 0 as keyframe. Returns dB, bits and ratios."""
    codec = get_codec(DEFAULT_KEYFRAME_CODEC)
    key = codec.decode(codec.encode(frames[0], quality))
    device = next(model.parameters()).device
    state = model.prepare_reference(frames_to_tensor(key[None], device))
    tokens = torch.cat([model.encode_tokens(frames_to_tensor(frames[i : i + batch], device)) for i in range(1, len(frames), batch)])
    start = state.token[0].double().cpu().numpy()
    q, decoded = quantize_tokens(tokens.double().cpu().numpy(), start, quality_step(quality))
    decoded_t = torch.from_numpy(decoded).float().to(device)
    recon, recon_keytoken = [], []
    for i in range(0, len(decoded_t), batch):
        chunk = decoded_t[i : i + batch]
        recon.append(tensor_to_frames(model.decode(state, chunk)))
        recon_keytoken.append(tensor_to_frames(model.decode(state, state.token.expand(len(chunk), -1))))
    rec = np.concatenate(recon)
    rec_key = np.concatenate(recon_keytoken)
    target = frames[1:]
    p_model = psnr_per_frame(rec, target)
    p_freeze = psnr_per_frame(np.broadcast_to(key, target.shape), target)
    p_keytoken = psnr_per_frame(rec_key, target)
    # The keyframe rebuilt from itself (reference = it, token = its own): from the clean
    # frame, and from the decoded keyframe the codec really uses as reference.
    clean = frames_to_tensor(frames[:1], device)
    self_rec = tensor_to_frames(model.decode(model.prepare_reference(clean), model.encode_tokens(clean)))
    self_rec_decoded = tensor_to_frames(model.decode(state, state.token))
    # And with the token moved by NEAR_SELF_DISTANCE in fixed random directions: how far the
    # trained decoder moves a frame that barely differs from its keyframe.
    directions = torch.randn(4, state.token.shape[1], generator=torch.Generator().manual_seed(0)).to(device)
    nudged = state.token + NEAR_SELF_DISTANCE * directions / directions.norm(dim=1, keepdim=True)
    self_rec_near = tensor_to_frames(model.decode(state, nudged))
    out: dict[str, float] = {
        "psnr": float(p_model.mean()),
        "ssim": float(ms_ssim_per_frame(target, rec).mean()),
        "psnr_freeze": float(p_freeze.mean()),
        "psnr_gain_own_token": float((p_model - p_keytoken).mean()),
        "psnr_self": float(psnr_per_frame(self_rec, frames[:1])[0]),
        "psnr_self_decoded_keyframe": float(psnr_per_frame(self_rec_decoded, key[None])[0]),
        "psnr_self_near": float(psnr_per_frame(self_rec_near, np.broadcast_to(key, self_rec_near.shape)).mean()),
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
