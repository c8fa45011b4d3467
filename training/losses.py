"""Losses: L1, a VGG19 perceptual pyramid (or MS-SSIM without VGG weights), hinge GAN with
the paper's two-scale patch discriminator, and adaptive discriminator augmentation."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim
from safetensors.torch import load_file
from torch import nn

from imfcodec.bench.metrics import MS_SSIM_MIN_SIDE

from ..errors import ConfigError

# torchvision's vgg19().features layout; ReLU outputs used by the paper's loss.
_VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
_VGG_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1


def _vgg_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, int(str(v)), 3, padding=1), nn.ReLU(inplace=False)]
            cin = int(str(v))
    return nn.Sequential(*layers)


def find_vgg_weights(explicit: str | None) -> Path | None:
    """--vgg-weights, else a vgg19*.safetensors in the torch hub cache; nothing is downloaded."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such VGG weights file")
        return path
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    found = sorted(hub.glob("vgg19*.safetensors")) if hub.is_dir() else []
    return found[0] if found else None


VGG_LEVELS = 4  # the image pyramid the VGG features are compared on: full, 1/2, 1/4, 1/8


class VGGPerceptual(nn.Module):
    """Paper's perceptual loss: L1 between VGG19 features at 5 layers, over a 4-level image pyramid.

    Weights come from a safetensors file with torchvision's `features.N.*` keys (convert a
    torchvision .pth once with safetensors; pickled files are never loaded here).
    """

    def __init__(self, weights: Path) -> None:
        super().__init__()
        if weights.suffix != ".safetensors":
            raise ConfigError(f"{weights}: VGG weights must be .safetensors (pickled files are not loaded)")
        state = {k.removeprefix("features."): v for k, v in load_file(str(weights)).items() if k.startswith("features.")}
        self.features = _vgg_features()
        self.features.load_state_dict(state)
        self.features.requires_grad_(False).eval()
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for level in range(VGG_LEVELS):
            if level:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            hx, hy = (x - self.mean) / self.std, (y - self.mean) / self.std
            taps: list[nn.Module] = list(self.features)[: _VGG_TAPS[-1] + 1]
            for i, layer in enumerate(taps):
                hx, hy = layer(hx), layer(hy)
                if i in _VGG_TAPS:
                    loss = loss + F.l1_loss(hx, hy.detach())
        return loss


class StructuralLoss(nn.Module):
    """1 - MS-SSIM (SSIM below MS_SSIM_MIN_SIDE, where five scales do not fit): the fallback perceptual term."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = x.float().clamp(0, 1), y.float()
        # In fp32 even under autocast: SSIM's variances are differences of means of squares,
        # which bf16 cancels into noise; with them the hybrid's bf16 training left its course
        # within 30 steps (docs/TRAINING.md).
        with torch.autocast(device_type=x.device.type, enabled=False):
            if min(x.shape[-2:]) >= MS_SSIM_MIN_SIDE:
                return 1 - ms_ssim(x, y, data_range=1.0, size_average=True)
            return 1 - ssim(x, y, data_range=1.0, size_average=True, win_size=7)


def perceptual_loss(vgg_weights: str | None) -> nn.Module:
    path = find_vgg_weights(vgg_weights)
    if path is None:
        warnings.warn(
            "VGG19 weights not found (--vgg-weights or the torch hub cache): the perceptual term falls back to MS-SSIM",
            stacklevel=2,
        )
        return StructuralLoss()
    return VGGPerceptual(path)


class PatchDiscriminator(nn.Module):
    """Two-scale patch discriminator (paper): the same design at full and half resolution.
    (B, 3, S, S) -> list of patch logits."""

    def __init__(self, channels: int = 64, depth: int = 4) -> None:
        super().__init__()

        def one() -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = channels
            for _ in range(depth - 1):
                layers += [nn.Conv2d(c, min(2 * c, 512), 4, 2, 1), nn.LeakyReLU(0.2)]
                c = min(2 * c, 512)
            layers.append(nn.Conv2d(c, 1, 3, 1, 1))
            return nn.Sequential(*layers)

        self.scales = nn.ModuleList([one(), one()])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x * 2 - 1
        return [self.scales[0](x), self.scales[1](F.avg_pool2d(x, 2))]


def hinge_d_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake))  # type: ignore[return-value]


def hinge_g_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(-f.mean() for f in fake)  # type: ignore[return-value]


class AdaptiveAugment:
    """ADA (Karras et al. 2020): augment what the discriminator sees, real and generated
    alike, with probability p steered so that E[sign(D(real))] stays near `target`."""

    def __init__(self, target: float = 0.6, interval: int = 4, speed: float = 0.01) -> None:
        self.p = 0.0
        self.target, self.interval, self.speed = target, interval, speed
        self._signs: list[float] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0:
            return x
        b = x.shape[0]
        apply = (torch.rand(b, 1, 1, 1, device=x.device) < self.p).to(x.dtype)
        flipped = torch.where(torch.rand(b, 1, 1, 1, device=x.device) < 0.5, x.flip(-1), x)
        dx, dy = (int(v) for v in torch.randint(-8, 9, (2,)))
        shifted = torch.roll(flipped, shifts=(dy, dx), dims=(-2, -1))
        gain = 1 + 0.2 * (torch.rand(b, 1, 1, 1, device=x.device) - 0.5)
        bias = 0.1 * (torch.rand(b, 1, 1, 1, device=x.device) - 0.5)
        augmented = (shifted - 0.5) * gain + 0.5 + bias
        return apply * augmented + (1 - apply) * x

    def update(self, real_logits: list[torch.Tensor]) -> None:
        self._signs.append(float(sum(torch.sign(r).mean() for r in real_logits) / len(real_logits)))
        if len(self._signs) >= self.interval:
            rt = sum(self._signs) / len(self._signs)
            self.p = min(0.8, max(0.0, self.p + (self.speed if rt > self.target else -self.speed)))
            self._signs.clear()


def weighted_l1(recon: torch.Tensor, target: torch.Tensor, lower_third_weight: float = 1.0) -> torch.Tensor:
    """Mean absolute error of (B, 3, H, W) images, the rows of the lower third (from 2H/3)
    weighted `lower_third_weight` and the rest 1, normalised by the weights' sum: at weight 1
    the plain mean, at 4 the mouth's rows count four times."""
    error = (recon - target).abs()
    if lower_third_weight == 1.0:
        return error.mean()
    rows = torch.ones(error.shape[-2], device=error.device, dtype=error.dtype)
    rows[error.shape[-2] * 2 // 3 :] = lower_third_weight
    return (error * rows[:, None]).sum() / (rows.sum() * error.shape[-1] * error.shape[0] * error.shape[1])
