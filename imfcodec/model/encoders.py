"""Encoder-side modules: the dense feature encoder (EF) and the latent token encoder (ET)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import IMFConfig
from .layers import ResBlock


class DenseFeatureEncoder(nn.Module):
    """EF: an image to dense features at 1/4, 1/8, 1/16 and 1/32 of its side.

    (B, 3, S, S) in [0, 1] -> [(B, C0, S/4, S/4), (B, C1, S/8, S/8), (B, C2, S/16, S/16), (B, C3, S/32, S/32)].
    """

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        c = config.feature_channels
        self.stem = nn.Sequential(nn.Conv2d(3, c[0] // 2, 3, 2, 1), ResBlock(c[0] // 2, c[0], stride=2))
        self.downs = nn.ModuleList([ResBlock(c[i - 1], c[i], stride=2) for i in range(1, 4)])
        self.refine = nn.ModuleList([nn.Sequential(*[ResBlock(c[i], c[i]) for _ in range(config.extra_blocks)]) for i in range(4)])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.refine[0](self.stem(image * 2 - 1))]
        for i, down in enumerate(self.downs, start=1):
            feats.append(self.refine[i](down(feats[-1])))
        return feats


class LatentTokenEncoder(nn.Module):
    """ET: an image to one d_m-dimensional token. (B, 3, S, S) -> (B, d_m).

    Each token entry leaves ET normalised over the data by TokenNorm. Its spread across
    frames is therefore held at 1: the quantiser's step means the same thing throughout
    training, and the model can neither shrink the token under the quantisation noise nor
    make it the same for every frame (the collapse seen in early probes, where a
    per-token normalisation still let every frame map to one constant token).
    """

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        chans = config.token_encoder_channels
        layers: list[nn.Module] = [nn.Conv2d(3, chans[0], 3, 1, 1)]
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers.append(ResBlock(cin, cout, stride=2))
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(chans[-1], chans[-1]), nn.LeakyReLU(0.2), nn.Linear(chans[-1], config.token_dim))
        self.norm = TokenNorm(config.token_dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = self.trunk(image * 2 - 1)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.norm(self.head(h))


class TokenNorm(nn.Module):
    """Per-entry standardisation by running statistics, in training and at inference alike.

    Unlike batch normalisation, a training batch is normalised with the running mean and
    variance (updated from it, without gradient), so a batch of near-identical frames
    cannot blow the token up, training and inference see the same function, and a frame's
    token never depends on its batch. The first training batch initialises the statistics,
    so the token starts at unit spread however small the untrained encoder's outputs are.
    (B, D) -> (B, D).
    """

    def __init__(self, dim: int, momentum: float = 0.02, eps: float = 1e-10) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] > 1:
            with torch.no_grad():
                mean, var = x.float().mean(dim=0), x.float().var(dim=0, unbiased=False)
                if not bool(self.initialized):
                    self.running_mean.copy_(mean)
                    self.running_var.copy_(var)
                    self.initialized.fill_(True)
                else:
                    self.running_mean.lerp_(mean, self.momentum)
                    self.running_var.lerp_(var, self.momentum)
        return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps)
