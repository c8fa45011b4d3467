"""The hybrid model: IMF's parts restoring a low-resolution base picture with the keyframe.

Every p-th frame travels as a B×B AV1 picture (imfcodec/codec/hybrid/base_layer.py), the
frames between get the blend of their coded neighbours. The decoder upsamples each frame's
base picture (bicubic) to u_t and adds a residual drawn from the reference's detail (the
group's keyframe picture, or in files without one its first base picture upscaled):

  keyframe x̂_ref ──EF──> values (sharp features)           } once per keyframe group
  u_0 = up(base_0) ──ES──> keys (the keyframe as the base shows it)
  u_t = up(base_t) ──ES──> queries ──IMFA(keys, values)──> the keyframe's features aligned to frame t
  DF(aligned + ES(u_t) features, u_t) ──> frame t = u_t + residual

Keys come from the keyframe's own *base* picture, so queries and keys are alike in
blur and coding noise and attention matches content, not sharpness (TTSR's design; HDAC
and Gemino use the same idea). ES is a second dense feature encoder, EF's architecture
with its own weights. DF's last layer starts at zero: the untrained hybrid returns u_t
exactly, the low-resolution anchor, and training has to earn every dB above it.

`config.hybrid_reference` picks how the keyframe enters: "attend" as drawn above; "warp"
adds a pixel path, because attention at 1/8 of the side cannot carry detail finer than
its cells: the finest attended scale also returns the attention's expected source
position (IMFA's carry_positions), a flow that warps the keyframe's pixels, and DF sees the
warped keyframe beside u_t; "none" drops the keyframe (super-resolution of the base alone,
the ablation that measures what the keyframe is worth).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import NUM_SCALES, IMFConfig
from .encoders import DenseFeatureEncoder, LatentTokenEncoder
from .frame_decoder import FrameDecoder
from .imf import warp
from .motion import ImplicitMotionAlignment
from .prior import TokenPrior


@dataclass
class HybridReference:
    """Per keyframe group: the decoded keyframe (1, 3, S, S) and, per attended scale, the
    keys (1, 1, N_s, D) from its base picture and values (1, 1, N_s, C_s) from its features."""

    image: torch.Tensor
    keys: dict[int, torch.Tensor]
    values: dict[int, torch.Tensor]
    # "warp" only: the keyframe base's own source positions (1, N, 2) and its ES features
    # (1, C, h, w) at the finest attended scale, against which a frame's flow is measured.
    positions: torch.Tensor | None = None
    motion: torch.Tensor | None = None
    # token models only: ET's token of the decoded keyframe (1, D), what frames' tokens are coded against
    token: torch.Tensor | None = None


def upsample(base: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, b, b) in [0, 1] -> (B, 3, size, size): bicubic, clamped to [0, 1]."""
    return F.interpolate(base, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


class HybridIMF(nn.Module):
    """Restores base pictures with the keyframe. Images are (B, 3, S, S) RGB in [0, 1]."""

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        if config.motion_channels != config.feature_channels:
            raise ValueError("the hybrid's IMFA takes ES features as its queries: motion_channels must equal feature_channels")
        self.config = config
        self.mode = config.hybrid_reference
        # Registration order is parameter order, which optimiser states in checkpoints follow.
        if self.mode != "none":
            self.feature_encoder = DenseFeatureEncoder(config)  # EF: the keyframe's detail
        self.structure_encoder = DenseFeatureEncoder(config)  # ES: what a base picture shows
        if self.mode != "none":
            flow_scale = config.finest_attention_scale if self.mode == "warp" else None
            self.alignment = nn.ModuleDict(
                {str(s): ImplicitMotionAlignment(config, s, carry_positions=s == flow_scale) for s in config.attention_scales}
            )
        self.frame_decoder = FrameDecoder(config, guide=self.mode == "warp")  # DF, its correction zero-initialised
        self.token_step = config.hybrid_token_step
        if self.token_step:
            self.token_encoder = LatentTokenEncoder(config)  # ET
            self.token_prior = TokenPrior(config.token_dim)
            films = [nn.Linear(config.token_dim, 2 * c) for c in config.feature_channels]
            for film in films:
                nn.init.zeros_(film.weight)
                nn.init.zeros_(film.bias)
            self.token_film = nn.ModuleList(films)

    def prepare_reference(self, keyframe: torch.Tensor, keyframe_base: torch.Tensor) -> HybridReference:
        """keyframe (R, 3, S, S) decoded; keyframe_base (R, 3, b, b): the group's first base picture."""
        token = self.token_encoder(keyframe) if self.token_step else None
        if self.mode == "none":
            return HybridReference(keyframe, {}, {}, token=token)
        features = self.feature_encoder(keyframe)
        structure = self.structure_encoder(upsample(keyframe_base, self.config.size))
        keys = {s: self.alignment[str(s)].keys(structure[s]) for s in self.config.attention_scales}
        values = {s: self.alignment[str(s)].values(features[s]) for s in self.config.attention_scales}
        if self.mode == "warp":
            s = self.config.finest_attention_scale
            positions = self.alignment[str(s)].source_positions(keys[s], keys[s])
            return HybridReference(keyframe, keys, values, positions, structure[s], token)
        return HybridReference(keyframe, keys, values, token=token)

    def token_residual(self, reference: HybridReference, frames: torch.Tensor) -> torch.Tensor:
        """What a token model sends for frames (B, 3, S, S): ET's token minus the keyframe's,
        unquantised, in token units. -> (B, D)"""
        assert reference.token is not None, "a model without a token"
        return self.token_encoder(frames) - reference.token

    def quantise(self, residual: torch.Tensor, noise: bool) -> torch.Tensor:
        """(B, D) residual -> its quantised value: rounded to the step, or (training) the
        residual plus uniform noise of the step's width."""
        if noise:
            return residual + (torch.rand_like(residual) - 0.5) * self.token_step
        return torch.round(residual / self.token_step) * self.token_step

    def decode(self, reference: HybridReference, bases: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """bases (B, 3, b, b) in [0, 1], a token model's quantised residuals (B, D) -> frames
        (B, 3, S, S), unclamped."""
        upsampled = upsample(bases, self.config.size)
        structure = self.structure_encoder(upsampled)
        batch = bases.shape[0]  # one reference for all rows, or one per row
        if self.token_step:
            assert residual is not None and reference.token is not None, "a token model decodes with its tokens"
            token = reference.token.expand(batch, -1) + residual
            for s, film in enumerate(self.token_film):
                scale, shift = film(token)[:, :, None, None].chunk(2, dim=1)
                structure[s] = structure[s] * (1 + scale) + shift
        features = list(structure)
        flow = None
        for s in reference.keys:
            keys = reference.keys[s].expand(batch, -1, -1, -1)
            values = reference.values[s].expand(batch, -1, -1, -1)
            positions = motion = None
            if self.alignment[str(s)].carry_positions and reference.positions is not None and reference.motion is not None:
                positions = reference.positions.expand(batch, -1, -1)
                motion = reference.motion.expand(batch, -1, -1, -1)
            aligned, f = self.alignment[str(s)](structure[s], keys, values, positions, motion)
            features[s] = structure[s] + aligned
            flow = f if f is not None else flow
        assert len(features) == NUM_SCALES
        guide = None
        if flow is not None:
            guide = warp(reference.image.expand(batch, -1, -1, -1), flow)
        return self.frame_decoder(features, upsampled, guide=guide)

    def forward(
        self, keyframe: torch.Tensor, keyframe_base: torch.Tensor, bases: torch.Tensor, frames: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training path, one keyframe per row: keyframe (B, 3, S, S), keyframe_base and
        bases (B, 3, b, b), and for a token model the frames themselves (B, 3, S, S) ->
        (frames (B, 3, S, S), the tokens' bits (B,), zero without a token)."""
        reference = self.prepare_reference(keyframe, keyframe_base)
        if not self.token_step:
            return self.decode(reference, bases), bases.new_zeros(bases.shape[0])
        assert frames is not None, "a token model trains on the frames its tokens come from"
        if self.training:
            self.token_encoder.norm.update(self.token_encoder.raw(keyframe), self.token_encoder.raw(frames))
        residual = self.quantise(self.token_residual(reference, frames), noise=self.training)
        return self.decode(reference, bases, residual), self.token_prior.bits(residual, self.token_step)
