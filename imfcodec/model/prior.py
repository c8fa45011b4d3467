"""The token prior: a trainable density over token residuals, frozen to integer tables.

Training uses the float density (a per-dimension zero-mean Laplace) to charge the token's
bits under uniform quantisation noise. Export measures the residuals the codec really
codes (each token predicted from the previous decoded one) on training clips, fits one
Laplace scale per dimension and quality, and freezes them into the integer frequency
tables of `bitstream.entropy`; from then on no float network sits between the bytes and
the integers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from imfcodec.bitstream.entropy import build_tables

TABLE_HALF_RANGE = 24  # values -24..24 have their own symbol; larger ones are escaped


def _laplace_cdf(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x < 0, 0.5 * torch.exp(x.clamp(max=0)), 1 - 0.5 * torch.exp(-x.clamp(min=0)))


class TokenPrior(nn.Module):
    """Factorised zero-mean Laplace over token residuals; one learned scale per dimension."""

    def __init__(self, token_dim: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((token_dim,), -1.0))

    def bits(self, residual: torch.Tensor, step: torch.Tensor | float) -> torch.Tensor:
        """Bits to code `residual` (B, D) (already noised) quantised with `step` (scalar or (B, 1)). -> (B,)

        The probability mass of the quantisation bin around each residual, computed on the
        side of the density where it does not cancel, so tails stay accurate in fp32.
        """
        residual = residual.float()
        step_t = torch.as_tensor(step, dtype=torch.float32, device=residual.device)
        scale = self.log_scale.float().exp()
        lo = (residual - step_t / 2) / scale
        hi = (residual + step_t / 2) / scale
        flip = (lo + hi) > 0
        a = torch.where(flip, -hi, lo)
        c = torch.where(flip, -lo, hi)
        mass = (_laplace_cdf(c) - _laplace_cdf(a)).clamp_min(1e-9)
        return -torch.log2(mass).sum(dim=-1)


def fit_scales(residuals_by_quality: list[np.ndarray]) -> np.ndarray:
    """Maximum-likelihood Laplace scales (mean absolute value, floored at 0.05), in steps,
    of integer residuals (N, D), one array per quality. -> (Q, D)."""
    return np.stack([np.maximum(np.abs(r).mean(axis=0), 0.05) for r in residuals_by_quality])


def frozen_tables(scales_in_steps: np.ndarray) -> np.ndarray:
    """(Q, D) scales -> (Q, D, 2K + 2) int32 tables as stored in the weights file."""
    return build_tables(scales_in_steps, TABLE_HALF_RANGE)
