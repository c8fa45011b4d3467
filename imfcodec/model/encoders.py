"""Encoder-side modules: the dense feature encoder (EF) and the latent token encoder (ET)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import NUM_SCALES, IMFConfig
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
        self.refine = nn.ModuleList([nn.Sequential(*[ResBlock(c[i], c[i]) for _ in range(config.extra_blocks)]) for i in range(NUM_SCALES)])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.refine[0](self.stem(image * 2 - 1))]
        for i, down in enumerate(self.downs, start=1):
            feats.append(self.refine[i](down(feats[-1])))
        return feats


class LatentTokenEncoder(nn.Module):
    """ET: an image to one d_m-dimensional token. (B, 3, S, S) -> (B, d_m).

    Each token entry leaves ET standardised by TokenNorm, whose scale is the spread of
    token differences within clips: the quantiser's step means the same thing throughout
    training, and the token can neither shrink nor freeze its motion (the collapses seen
    in early probes).
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

    def raw(self, image: torch.Tensor) -> torch.Tensor:
        """The token before TokenNorm. (B, 3, S, S) -> (B, d_m)."""
        h = self.trunk(image * 2 - 1)
        return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.norm(self.raw(image))


class TokenNorm(nn.Module):
    """Per-entry standardisation of the token by statistics of *motion*, fixed at inference.

    Entries are centred by their running mean over frames and scaled by the running
    spread of the difference between a current frame's token and its reference's, over
    the training pairs (same clip, random distances). What the codec quantises is exactly
    that difference, so its spread is held at 1 whatever the weights do: the token cannot
    shrink its motion under the quantisation noise, and it cannot put its variance into
    the clip's appearance instead (normalising over all frames let it do both: within-clip
    spread 0.01 against 1 across clips, 99.7 % zero residuals). Statistics are updated by
    `update` (training pairs, no gradient) and used unchanged by `forward`, so training and
    inference compute the same function and a frame's token never depends on its batch.
    (B, D) -> (B, D).
    """

    def __init__(self, dim: int, momentum: float = 0.02, eps: float = 1e-10) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.initialized: torch.Tensor
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_var", torch.ones(dim))  # of (current - reference)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def update(self, reference: torch.Tensor, current: torch.Tensor) -> None:
        """Raw tokens of training pairs, (B, D) each; the first call initialises."""
        mean = torch.cat([reference, current]).float().mean(dim=0)
        var = (current - reference).float().pow(2).mean(dim=0)
        if not bool(self.initialized):
            self.running_mean.copy_(mean)
            self.running_var.copy_(var)
            self.initialized.fill_(True)
        else:
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.running_mean) * torch.rsqrt(self.running_var + self.eps)
