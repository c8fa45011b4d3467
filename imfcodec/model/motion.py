"""Decoder-side motion modules: the latent token decoder (IMFD) and implicit motion
alignment (IMFA)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import IMFConfig
from .layers import StyledLayer, TransformerBlock, attention, fourier_positions, grid_coordinates


class LatentTokenDecoder(nn.Module):
    """IMFD: a token to motion features, StyleGAN2-style.

    A learned 4×4 constant is upsampled by modulated/demodulated convolutions whose styles
    come from the token; a 1×1 side branch taps the trunk at every attended scale.
    (B, d_m) -> {scale: (B, Cm_s, S_s, S_s)} for the attended scales.
    """

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        c = config.motion_channels
        self.scales = config.attention_scales
        self.mapping = nn.Sequential(
            nn.Linear(config.token_dim, config.style_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(config.style_dim, config.style_dim),
            nn.LeakyReLU(0.2),
        )
        self.const = nn.Parameter(torch.randn(1, c[3], 4, 4))
        self.stem = StyledLayer(c[3], c[3], config.style_dim)
        # Trunk from 1/32 (scale 3) down to the finest attended scale.
        self.stages = nn.ModuleDict()
        self.taps = nn.ModuleDict()
        cin = c[3]
        for s in range(3, self.scales[0] - 1, -1):
            self.stages[str(s)] = nn.ModuleList([StyledLayer(cin, c[s], config.style_dim), StyledLayer(c[s], c[s], config.style_dim)])
            if s in self.scales:
                self.taps[str(s)] = nn.Conv2d(c[s], c[s], 1)
            cin = c[s]
        self.first_side = config.resolution(3) // 2

    def forward(self, token: torch.Tensor) -> dict[int, torch.Tensor]:
        style = self.mapping(token)
        x = self.const.expand(token.shape[0], -1, -1, -1)
        if self.first_side != 4:
            x = F.interpolate(x, size=self.first_side, mode="bilinear", align_corners=False)
        x = self.stem(x, style)
        out: dict[int, torch.Tensor] = {}
        for s in range(3, self.scales[0] - 1, -1):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            first, second = self.stages[str(s)]
            x = second(first(x, style), style)
            if s in self.scales:
                out[s] = self.taps[str(s)](x)
        return out


class ImplicitMotionAlignment(nn.Module):
    """IMFA at one scale: align the reference's dense features to the current frame.

    Queries come from the current frame's motion features, keys from the reference's, each
    joined with a positional encoding; values are the reference's dense features. One
    projection serves queries and keys and both are L2-normalised (cosine attention), so a
    query built from the reference's own motion features matches its own position best:
    equal tokens mean no motion. A learned temperature sharpens the softmax; at its initial
    value the untrained model returns the reference unchanged.

    With `carry_positions`, the values also carry each key's grid position, so the output
    includes the attention's expected source position: a dense flow the identity path uses
    to warp the keyframe's pixels. The flow is measured against the reference attending to
    itself (`ref_flow`), not against the grid: a soft softmax pulls border cells inwards
    even when nothing moves, and subtracting the reference's own pull makes equal tokens
    give exactly zero flow at any temperature. So the temperature can start soft enough
    for gradients to reach the motion features.
    """

    def __init__(self, config: IMFConfig, scale: int, carry_positions: bool) -> None:
        super().__init__()
        self.side = config.resolution(scale)
        self.project = nn.Conv2d(config.motion_channels[scale], config.key_dim, 1)
        # Weight of motion vs position in the key, as a logit (0 -> equal parts).
        self.motion_mix = nn.Parameter(torch.zeros(()))
        self.log_temperature = nn.Parameter(torch.tensor(float(config.attention_temperature)).log())
        self.carry_positions = carry_positions
        dim = config.feature_channels[scale]
        self.blocks = nn.ModuleList([TransformerBlock(dim, config.heads, config.ffn_mult) for _ in range(config.transformer_blocks[scale])])
        self.flow_head: nn.Module | None = None
        if carry_positions:
            cm = config.motion_channels[scale]
            last = nn.Conv2d(cm, 2, 3, 1, 1, bias=False)
            nn.init.zeros_(last.weight)
            self.flow_head = nn.Sequential(nn.Conv2d(cm, cm, 3, 1, 1, bias=False), nn.LeakyReLU(0.2), last)
        self.positions: torch.Tensor
        self.grid: torch.Tensor
        self.register_buffer("positions", fourier_positions(self.side), persistent=False)
        self.register_buffer("grid", grid_coordinates(self.side), persistent=False)

    def keys(self, motion: torch.Tensor) -> torch.Tensor:
        """Motion features (B, Cm, h, w) -> unit-length keys/queries (B, 1, h*w, key_dim + P)."""
        a = F.normalize(self.project(motion).flatten(2).transpose(1, 2), dim=-1)
        mix = torch.sigmoid(self.motion_mix)
        pe = self.positions.to(a.dtype).expand(a.shape[0], -1, -1)
        return torch.cat([mix.sqrt() * a, (1 - mix).sqrt() * pe], dim=-1).unsqueeze(1)

    def values(self, features: torch.Tensor) -> torch.Tensor:
        """Reference features (B, C, h, w) -> values (B, 1, h*w, C [+ 2])."""
        v = features.flatten(2).transpose(1, 2)
        if self.carry_positions:
            v = torch.cat([v, self.grid.to(v.dtype).expand(v.shape[0], -1, -1)], dim=-1)
        return v.unsqueeze(1)

    def source_positions(self, queries: torch.Tensor, ref_keys: torch.Tensor) -> torch.Tensor:
        """Expected source position per query cell. queries (B, 1, N, D) -> (B, N, 2)."""
        grid = self.grid.to(queries.dtype).expand(queries.shape[0], 1, -1, -1)
        return attention(queries, ref_keys, grid, scale=self.log_temperature.exp()).squeeze(1)

    def forward(
        self,
        current_motion: torch.Tensor,
        ref_keys: torch.Tensor,
        ref_values: torch.Tensor,
        ref_positions: torch.Tensor | None = None,
        ref_motion: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns aligned features (B, C, h, w) and, with carry_positions, the flow
        (B, 2, h, w) in grid_sample units: the current frame's expected source positions
        minus the reference's own (`ref_positions`, (B, N, 2) from source_positions)."""
        b = current_motion.shape[0]
        q = self.keys(current_motion)
        out = attention(q, ref_keys, ref_values, scale=self.log_temperature.exp()).squeeze(1)  # (B, N, Cv)
        flow = None
        if self.carry_positions:
            if ref_positions is None or ref_motion is None or self.flow_head is None:
                raise ValueError("the identity scale needs the reference's own source positions and motion features")
            out, source = out[..., :-2], out[..., -2:]
            flow = (source - ref_positions).transpose(1, 2).reshape(b, 2, self.side, self.side)
            flow = flow + self.flow_head(current_motion - ref_motion)
        for block in self.blocks:
            out = block(out)
        return out.transpose(1, 2).reshape(b, -1, self.side, self.side), flow
