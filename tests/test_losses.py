"""Training losses (training/losses.py)."""

from __future__ import annotations

import torch

from imfcodec.training.losses import StructuralLoss, weighted_l1


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


def test_weighted_l1_counts_the_lower_third_as_asked() -> None:
    """An error only in the lower third counts `w` times as much as the same error above it
    (normalised by the weights, so weight 1 is the plain mean). Fails if the rows are
    swapped (the weight lands on the forehead), or the normalisation or the default moves."""
    target = torch.zeros(2, 3, 12, 6)
    top, bottom = target.clone(), target.clone()
    top[:, :, :8] = 1.0  # rows 0..7: the upper two thirds
    bottom[:, :, 8:] = 1.0  # rows 8..11: the lower third
    assert torch.isclose(weighted_l1(bottom, target), (bottom - target).abs().mean())
    assert torch.isclose(weighted_l1(bottom, target, 4.0), torch.tensor(4 * 4 / (8 + 4 * 4)))
    assert torch.isclose(weighted_l1(top, target, 4.0), torch.tensor(8 / (8 + 4 * 4)))
