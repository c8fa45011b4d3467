"""Building blocks shared by the IMF modules: residual convs, modulated convs,
attention with a selectable backend, transformer blocks, positional encodings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# Attention backend
# ---------------------------------------------------------------------------

_BACKEND = "auto"  # auto | sdpa | xformers: set_attention_backend

# xformers ships CUDA kernels only; on CPU it is never used. Only its absence is tolerated:
# an installed xformers that fails to import (a broken build, a torch it was not built for)
# is a warning naming the error, not a silent fall-back.
_XFORMERS_ERROR: str | None = None
try:
    import xformers.ops as _xops
except ModuleNotFoundError:
    _xops = None
except (ImportError, OSError, RuntimeError) as exc:  # pragma: no cover - depends on the machine
    import warnings

    _xops = None
    _XFORMERS_ERROR = f"{type(exc).__name__}: {exc}"
    warnings.warn(f"xformers is installed but does not import ({_XFORMERS_ERROR}); attention uses SDPA", stacklevel=1)


def set_attention_backend(name: str) -> None:
    """Choose 'auto' (xformers on CUDA when importable, else SDPA), 'sdpa' or 'xformers'."""
    global _BACKEND
    if name not in ("auto", "sdpa", "xformers"):
        raise ValueError(f"unknown attention backend {name!r}")
    if name == "xformers" and _xops is None:
        raise RuntimeError(f"xformers is not importable ({_XFORMERS_ERROR or 'not installed'}); install the [gpu] extra on a CUDA machine")
    _BACKEND = name


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | torch.Tensor | None = None) -> torch.Tensor:
    """softmax(scale · q kᵀ) v without materialising the attention map when the backend allows.

    q: (B, H, Nq, D), k: (B, H, Nk, D), v: (B, H, Nk, Dv) -> (B, H, Nq, Dv).
    `scale` defaults to 1/sqrt(D); a tensor scale (a learned temperature) is folded into q.
    """
    if isinstance(scale, torch.Tensor):
        q = q * scale
        scale = 1.0
    use_xformers = _xops is not None and q.is_cuda and _BACKEND in ("auto", "xformers")
    if use_xformers:
        # xformers wants (B, N, H, D).
        out = _xops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=scale)
        return out.transpose(1, 2)
    return F.scaled_dot_product_attention(q, k, v, scale=scale)


# ---------------------------------------------------------------------------
# Convolutional blocks
# ---------------------------------------------------------------------------


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class ResBlock(nn.Module):
    """Pre-activation residual block; `stride=2` halves H and W. (B, Cin, H, W) -> (B, Cout, H/s, W/s)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2)
        skip: list[nn.Module] = []
        if stride > 1:
            skip.append(nn.AvgPool2d(stride))
        if cin != cout:
            skip.append(nn.Conv2d(cin, cout, 1))
        self.skip = nn.Sequential(*skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(x))
        h = self.conv2(self.act(h))
        return self.skip(x) + h


class UpBlock(nn.Module):
    """Nearest ×2 upsampling then a residual block. (B, Cin, H, W) -> (B, Cout, 2H, 2W)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block = ResBlock(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated/demodulated convolution.

    x: (B, Cin, H, W), style: (B, S) -> (B, Cout, H, W). The per-sample weights are applied
    as one grouped convolution, so a batch of tokens costs one kernel launch.
    """

    def __init__(self, cin: int, cout: int, style_dim: int, kernel: int = 3, demodulate: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.affine = nn.Linear(style_dim, cin)
        nn.init.ones_(self.affine.bias)  # start as an unmodulated conv
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.demodulate = demodulate
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, cin, h, w = x.shape
        s = self.affine(style)  # (B, Cin)
        weight = self.scale * self.weight.unsqueeze(0) * s[:, None, :, None, None]  # (B, Cout, Cin, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        cout = weight.shape[1]
        out = F.conv2d(
            x.reshape(1, b * cin, h, w),
            weight.reshape(b * cout, cin, *weight.shape[3:]),
            padding=self.padding,
            groups=b,
        )
        return out.reshape(b, cout, h, w) + self.bias[None, :, None, None]


class StyledLayer(nn.Module):
    """Modulated conv followed by the activation; the unit of the IMFD trunk."""

    def __init__(self, cin: int, cout: int, style_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, style_dim)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x, style))


# ---------------------------------------------------------------------------
# Transformer pieces
# ---------------------------------------------------------------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention over a sequence. (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + SA(LN(x)), then x + FFN(LN(x)). (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def fourier_positions(side: int, device: torch.device | None = None) -> torch.Tensor:
    """2-D sinusoidal encoding of a side×side grid with frequencies 1, 2, 4 … side/2 cycles
    per image on each axis, normalised to unit length per position. -> (side*side, 4*L)."""
    freqs = 2.0 ** torch.arange(int(math.log2(side)), device=device)  # up to Nyquist
    coords = (torch.arange(side, device=device) + 0.5) / side
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    angles_x = 2 * math.pi * xx.reshape(-1, 1) * freqs
    angles_y = 2 * math.pi * yy.reshape(-1, 1) * freqs
    pe = torch.cat([angles_x.sin(), angles_x.cos(), angles_y.sin(), angles_y.cos()], dim=1)
    return pe / pe.norm(dim=1, keepdim=True)


def grid_coordinates(side: int, device: torch.device | None = None) -> torch.Tensor:
    """Cell centres of a side×side grid in grid_sample's [-1, 1] convention, (x, y). -> (side*side, 2)."""
    coords = (torch.arange(side, device=device, dtype=torch.float32) + 0.5) / side * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
