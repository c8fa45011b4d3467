"""Training losses (training/losses.py)."""

from __future__ import annotations

import torch

from imfcodec.training.losses import StructuralLoss


def test_structural_loss_is_fp32_under_autocast() -> None:
    """MS-SSIM's variances cancel into noise in bf16: under bf16 autocast the loss and its
    gradient must be the fp32 ones (a bf16 hybrid run left its course within 30 steps when
    they were not)."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 192, 192)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    loss = StructuralLoss()
    xa = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = loss(xa, y)
    under.backward()
    xb = x.clone().requires_grad_(True)
    plain = loss(xb, y)
    plain.backward()
    assert torch.equal(under, plain) and torch.equal(xa.grad, xb.grad)
