"""The frame decoder (DF): aligned features, coarse to fine, to an RGB frame."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import IMFConfig
from .layers import ResBlock, UpBlock

BASE_PATCH = 4  # pixels per side of a scale-0 cell: scale 0 sits at 1/4 of the frame's side


class FrameDecoder(nn.Module):
    """DF: fuse aligned features from 1/32 up to 1/4 and draw the frame.

    features: four tensors (B, C_s, S_s, S_s), coarse scale last, as EF lays them out.
    base: (B, 3, S, S) the warped keyframe (identity path) or None.
    Returns (B, 3, S, S); with a base, base + correction, the correction's last layer
    zero-initialised so the untrained decoder returns the warped keyframe itself.
    The output is not clamped here: a clamp would stop gradients; the codec clamps.
    """

    def __init__(self, config: IMFConfig, guide: bool = False) -> None:
        super().__init__()
        c, d = config.feature_channels, config.decoder_channels
        self.identity_path = config.identity_path
        self.entry = ResBlock(c[3], d[3])
        self.ups = nn.ModuleList([UpBlock(d[s + 1], d[s]) for s in range(2, -1, -1)])
        # The base enters at scale 0 (1/4 of the side) as 4×4 pixel patches, so DF sees what it corrects.
        extra = 3 * BASE_PATCH**2 if config.identity_path else 0
        # A guide image (the hybrid's warped keyframe) enters the same way.
        extra += 3 * BASE_PATCH**2 if guide else 0
        self.guided = guide
        self.fuse = nn.ModuleList(
            [
                nn.Sequential(
                    ResBlock(d[s] + c[s] + (extra if s == 0 else 0), d[s]),
                    *[ResBlock(d[s], d[s]) for _ in range(config.extra_blocks)],
                )
                for s in range(2, -1, -1)
            ]
        )
        self.to_rgb = nn.Conv2d(d[0], 3 * BASE_PATCH**2, 3, 1, 1)  # one 4×4 RGB patch per scale-0 cell
        if config.identity_path:
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)  # type: ignore[arg-type]  # Conv2d(bias=True) has one

    def forward(
        self, features: list[torch.Tensor], base: torch.Tensor | None, gate: torch.Tensor | None = None, guide: torch.Tensor | None = None
    ) -> torch.Tensor:
        """gate: (B,) in [0, 1], scales the correction on the base (None: 1). guide: (B, 3, S, S),
        required by a decoder built with guide=True, a second image DF sees but does not add to."""
        if (guide is not None) != self.guided:
            raise ValueError(f"this frame decoder was built with guide={self.guided}")
        h = self.entry(features[3])
        for i, s in enumerate(range(2, -1, -1)):
            h = self.ups[i](h)
            parts = [h, features[s]]
            if s == 0 and base is not None:
                parts.append(F.pixel_unshuffle(base * 2 - 1, BASE_PATCH))
            if s == 0 and guide is not None:
                parts.append(F.pixel_unshuffle(guide * 2 - 1, BASE_PATCH))
            h = self.fuse[i](torch.cat(parts, dim=1))
        out = F.pixel_shuffle(self.to_rgb(F.leaky_relu(h, 0.2)), BASE_PATCH)
        if base is not None:
            return base + (out if gate is None else out * gate[:, None, None, None])
        return out * 0.5 + 0.5
