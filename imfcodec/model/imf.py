"""IMF, the Implicit Motion Function, assembled from its parts.

encode side:  frame ──ET──> token (B, d_m)
decode side:  keyframe ──EF, ET, IMFD──> ReferenceState          (once per keyframe)
              tokens ──IMFD──> motion features ──IMFA(vs reference)──> aligned features ──DF──> frames

The identity path (config.identity_path): the finest attended IMFA scale also returns
the attention's expected source position per cell; that flow warps the keyframe's
pixels, and DF adds a correction that starts at zero. Untrained, with the current token
equal to the keyframe's, the model returns the keyframe; training learns motion and
corrections on top of it rather than redrawing every pixel. With config.correction_gate
the correction also fades out as the token nears the keyframe's, so that equal tokens
return the keyframe exactly however the model is trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import NUM_SCALES, IMFConfig
from .encoders import DenseFeatureEncoder, LatentTokenEncoder
from .frame_decoder import FrameDecoder
from .motion import ImplicitMotionAlignment, LatentTokenDecoder


@dataclass
class ReferenceState:
    """What the decoder keeps per keyframe: computed once, reused for every frame of its group.

    image: (R, 3, S, S) the decoded keyframe; token: (R, d_m); features: EF's four scales;
    keys / values: per attended scale, (R, 1, N_s, D) as IMFA consumes them. R is 1 in the
    codec and the training batch size in training.
    """

    image: torch.Tensor
    token: torch.Tensor
    features: list[torch.Tensor]
    keys: dict[int, torch.Tensor]
    values: dict[int, torch.Tensor]
    positions: torch.Tensor | None = None  # (R, N, 2): the reference attending to itself
    motion: torch.Tensor | None = None  # (R, Cm, h, w): its motion features at the identity scale

    def broadcast(self, batch: int) -> ReferenceState:
        """View a single reference as a batch of `batch` (no copy)."""
        if self.image.shape[0] == batch:
            return self
        if self.image.shape[0] != 1:
            raise ValueError(f"cannot broadcast a reference batch of {self.image.shape[0]} to {batch}")

        def ex(t: torch.Tensor) -> torch.Tensor:
            return t.expand(batch, *t.shape[1:])

        return ReferenceState(
            image=ex(self.image),
            token=ex(self.token),
            features=[ex(f) for f in self.features],
            keys={s: ex(k) for s, k in self.keys.items()},
            values={s: ex(v) for s, v in self.values.items()},
            positions=None if self.positions is None else ex(self.positions),
            motion=None if self.motion is None else ex(self.motion),
        )


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp (B, C, H, W) by a flow (B, 2, h, w) in grid_sample units, upsampled bilinearly."""
    b, _, h, w = image.shape
    if flow.shape[-2:] != (h, w):
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    ys = (torch.arange(h, device=image.device, dtype=image.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=image.device, dtype=image.dtype) + 0.5) / w * 2 - 1
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
    grid = base.unsqueeze(0) + flow.permute(0, 2, 3, 1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


class IMF(nn.Module):
    """The Implicit Motion Function model. Images are (B, 3, S, S) RGB in [0, 1]."""

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        self.config = config
        self.feature_encoder = DenseFeatureEncoder(config)  # EF
        self.token_encoder = LatentTokenEncoder(config)  # ET
        self.token_decoder = LatentTokenDecoder(config)  # IMFD
        identity_scale = config.finest_attention_scale if config.identity_path else None
        self.alignment = nn.ModuleDict(  # IMFA, one per attended scale
            {str(s): ImplicitMotionAlignment(config, s, carry_positions=s == identity_scale) for s in config.attention_scales}
        )
        self.frame_decoder = FrameDecoder(config)  # DF

    # -- encoder side -------------------------------------------------------
    def encode_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, d_m), unit variance over d_m."""
        return self.token_encoder(frames)

    # -- decoder side -------------------------------------------------------
    def prepare_reference(self, keyframe: torch.Tensor, token: torch.Tensor | None = None) -> ReferenceState:
        """(R, 3, S, S) decoded keyframe -> its ReferenceState (`token`: its ET token, if known)."""
        features = self.feature_encoder(keyframe)
        token = self.token_encoder(keyframe) if token is None else token
        motion = self.token_decoder(token)
        keys = {s: self.alignment[str(s)].keys(motion[s]) for s in self.config.attention_scales}
        values = {s: self.alignment[str(s)].values(features[s]) for s in self.config.attention_scales}
        positions = identity_motion = None
        if self.config.identity_path:
            s = self.config.finest_attention_scale
            positions = self.alignment[str(s)].source_positions(keys[s], keys[s])
            identity_motion = motion[s]
        return ReferenceState(keyframe, token, features, keys, values, positions, identity_motion)

    def decode(self, reference: ReferenceState, tokens: torch.Tensor) -> torch.Tensor:
        """Frames for `tokens` (B, d_m) against one reference (or one per row). -> (B, 3, S, S), unclamped."""
        ref = reference.broadcast(tokens.shape[0])
        motion = self.token_decoder(tokens)
        features = list(ref.features)
        flow = None
        for s in self.config.attention_scales:
            aligned, f = self.alignment[str(s)](motion[s], ref.keys[s], ref.values[s], ref.positions, ref.motion)
            features[s] = aligned
            flow = f if f is not None else flow
        base = None
        if flow is not None:
            # Scales not attended still move with the frame: warp them by the same flow.
            for s in range(NUM_SCALES):
                if s not in self.config.attention_scales:
                    features[s] = warp(ref.features[s], flow)
            base = warp(ref.image, flow)
        gate = None
        if base is not None and self.config.correction_gate > 0:
            # Squared distance: smooth at zero, where a norm's gradient is undefined.
            squared = (tokens.float() - ref.token.float()).pow(2).sum(dim=1)
            gate = -torch.expm1(-squared / self.config.correction_gate**2)
        return self.frame_decoder(features, base, gate)

    def forward(self, reference: torch.Tensor, current: torch.Tensor, token_noise: float | torch.Tensor = 0.0) -> dict[str, torch.Tensor]:
        """Training path: reconstruct `current` (B, 3, S, S) from `reference` (B, 3, S, S).

        token_noise: the quantiser's step (scalar or (B, 1)); uniform noise of that width
        stands in for rounding the token, so training sees what the codec will do.
        Returns recon (B, 3, S, S), token (B, d_m) noisy current token, ref_token (B, d_m).
        """
        raw_ref, raw_cur = self.token_encoder.raw(torch.cat([reference, current])).chunk(2)
        if self.training:
            self.token_encoder.norm.update(raw_ref, raw_cur)
        ref_token, token = self.token_encoder.norm(raw_ref), self.token_encoder.norm(raw_cur)
        state = self.prepare_reference(reference, ref_token)
        if isinstance(token_noise, torch.Tensor) or token_noise > 0:
            token = token + (torch.rand_like(token) - 0.5) * token_noise
        return {"recon": self.decode(state, token), "token": token, "ref_token": state.token}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
