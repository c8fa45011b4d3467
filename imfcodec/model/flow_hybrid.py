"""Hybrid v2: the reference aligned at full resolution by dense flow, and a small refiner.

imf-hybrid-v1 aligns the reference by attention at 1/8 of the side and coarser, so detail
finer than 8 pixels never reaches its decoder. Here the decoder estimates motion itself, at
full resolution, between two pictures it has on both sides of the channel (Gemino's idea):
the frame's base picture upscaled, u_t, and the reference's base picture upscaled, u_ref.
That flow warps the reference picture (the group's keyframe, or without one its upscaled
base) to the frame; a CNN at half the side (or a quarter: refiner_scale) sees u_t, the
warped reference and where the warp is wrong (the warped u_ref minus u_t), and adds a
residual to u_t:

  u_t, u_ref ──DIS flow (OpenCV, no gradient)──> flow_t (B, 2, S, S), pixels
  warp(reference, flow_t), warp(u_ref, flow_t) − u_t, u_t ──unshuffle ×r──> refiner ──shuffle──> + u_t

With `neighbour_pictures` 2 the refiner also sees the coded base pictures before and after
the frame (n_k), each aligned to it by DIS flow at the base's own side (a sixteenth of the
work at 256² from 64²) and given as warp(up(n_k)) − u_t: two more looks at the same face
through a codec whose errors differ from picture to picture, and, for a frame the layer
skips, the real pictures its fill was drawn from.

The refiner's last layer starts at zero: the untrained model returns u_t, the bicubic base,
exactly. The flow is not learned: DIS (Kroeger et al., ECCV 2016) on the luma of the two
upscaled pictures, 7 ms a frame at 256² on one core at preset medium, about a quarter of that
at "fast" (config.flow_preset); it runs on the CPU whatever the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import IMFConfig
from .hybrid import upsample


@dataclass
class FlowReference:
    """Per group: the reference picture (R, 3, S, S) and its base picture upscaled (R, 3, S, S),
    R = 1 (one reference for every frame) or one per row (training)."""

    image: torch.Tensor
    base: torch.Tensor


def _luma_u8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in [0, 1] -> (B, S, S) uint8 luma (BT.601 weights: motion, not colour)."""
    y = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    return (y.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def dense_flow(frames: torch.Tensor, references: torch.Tensor, preset: str = "medium") -> torch.Tensor:
    """For each pixel x of frames (B, 3, S, S), the offset f(x) (pixels, (dx, dy)) such that
    references (B or 1, 3, S, S) at x + f(x) shows what frames show at x: (B, 2, S, S).
    `preset`: DIS's "medium" or "fast" (fewer patch iterations and scales, about 4x faster)."""
    import cv2

    cv2.setNumThreads(1)  # the same flow whatever the host's cores
    code = {"medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST}[preset]
    dis = cv2.DISOpticalFlow_create(code)  # type: ignore[attr-defined]  # the stubs miss it
    cur, ref = _luma_u8(frames), _luma_u8(references)
    flows = [dis.calc(cur[i], ref[i if len(ref) > 1 else 0], None) for i in range(len(cur))]
    return torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(frames.device, frames.dtype)


def upscaled_flow(frames: torch.Tensor, references: torch.Tensor, size: int) -> torch.Tensor:
    """dense_flow at the pictures' own side (B, 3, b, b), scaled to (B, 2, size, size) pixels."""
    flow = dense_flow(frames, references)
    if frames.shape[-1] == size:
        return flow
    return F.interpolate(flow, size=(size, size), mode="bilinear", align_corners=False) * (size / frames.shape[-1])


def warp_by_flow(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """images (B or 1, C, S, S) sampled at x + flow(x), flow (B, 2, S, S) in pixels: (B, C, S, S)
    (bilinear; outside the picture, the nearest edge)."""
    b, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device), torch.arange(w, device=flow.device), indexing="ij")
    x = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1
    y = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1
    grid = torch.stack([x, y], dim=-1).to(images.dtype)
    return F.grid_sample(images.expand(b, -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=True)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place on the convolutions' fresh outputs (autograd saves neither): the same
        # numbers, and a quarter less of the refiner's time on 2 CPU cores (allocations).
        out = self.conv2(F.leaky_relu(self.conv1(x), 0.1, inplace=True))
        out += x
        return out


class FlowHybrid(nn.Module):
    """Restores base pictures with a flow-aligned reference. Images (B, 3, S, S) RGB in [0, 1]."""

    token_step = 0.0  # no per-frame token: the base layer carries the frame

    def __init__(self, config: IMFConfig) -> None:
        super().__init__()
        self.config = config
        c = config.refiner_channels
        # u_t, warped reference, warped u_ref − u_t, each neighbour's warp − u_t; unshuffled
        r2 = config.refiner_scale**2
        self.head = nn.Conv2d((9 + 3 * config.neighbour_pictures) * r2, c, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(config.refiner_blocks)])
        self.tail = nn.Conv2d(c, 3 * r2, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # the untrained model is its bicubic base
        nn.init.zeros_(self.tail.bias)  # type: ignore[arg-type]  # a Conv2d made with bias has one

    def prepare_reference(self, reference: torch.Tensor, reference_base: torch.Tensor) -> FlowReference:
        """reference (R, 3, S, S): the keyframe picture decoded, or the upscaled base picture;
        reference_base (R, 3, b, b): the group's first base picture."""
        return FlowReference(reference, upsample(reference_base, self.config.size))

    def inputs(
        self, reference: FlowReference, bases: torch.Tensor, neighbours: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """bases (B, 3, b, b), neighbours (B, N, 3, b, b) for a model with N = neighbour_pictures
        -> (u_t (B, 3, S, S), the refiner's input (B, 9 + 3 N, S, S))."""
        size = self.config.size
        upsampled = upsample(bases, size)
        if self.config.align_reference:
            with torch.no_grad():
                flow = dense_flow(upsampled, reference.base, self.config.flow_preset)
            warped = warp_by_flow(reference.image, flow)
            mismatch = warp_by_flow(reference.base, flow) - upsampled
        else:  # the ablation: the reference as it is, wherever the face has moved
            warped = reference.image.expand(len(bases), -1, -1, -1)
            mismatch = reference.base - upsampled
        parts = [upsampled, warped, mismatch]
        count = self.config.neighbour_pictures
        if count:
            if neighbours is None or neighbours.shape[1] != count:
                raise ValueError(f"this model reads {count} neighbouring base pictures a frame")
            for k in range(count):
                with torch.no_grad():
                    to_neighbour = upscaled_flow(bases, neighbours[:, k], size)
                parts.append(warp_by_flow(upsample(neighbours[:, k], size), to_neighbour) - upsampled)
        return upsampled, torch.cat(parts, dim=1)

    def refine(self, upsampled: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """u_t (B, 3, H, W) and the refiner's input (B, 9 + 3 N, H, W), H and W multiples of
        refiner_scale -> frames, unclamped."""
        r = self.config.refiner_scale
        y = self.tail(self.body(F.leaky_relu(self.head(F.pixel_unshuffle(x, r)), 0.1, inplace=True)))
        return upsampled + F.pixel_shuffle(y, r)

    def decode(
        self, reference: FlowReference, bases: torch.Tensor, residual: torch.Tensor | None = None, neighbours: torch.Tensor | None = None
    ) -> torch.Tensor:
        """bases (B, 3, b, b) in [0, 1], neighbours (B, N, 3, b, b) -> frames (B, 3, S, S), unclamped."""
        upsampled, x = self.inputs(reference, bases, neighbours)
        return self.refine(upsampled, x)

    def forward(
        self,
        keyframe: torch.Tensor,
        keyframe_base: torch.Tensor,
        bases: torch.Tensor,
        frames: torch.Tensor | None = None,
        crop: tuple[int, int, int] | None = None,
        neighbours: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training path, one reference per row -> (frames (B, 3, S, S), zeros (B,)). `crop`
        (top, left, side): the flow on whole frames, the refiner on that window only (its
        output then (B, 3, side, side)): training at a quarter of the cost."""
        upsampled, x = self.inputs(self.prepare_reference(keyframe, keyframe_base), bases, neighbours)
        if crop is not None:
            top, left, side = crop
            upsampled, x = upsampled[..., top : top + side, left : left + side], x[..., top : top + side, left : left + side]
        return self.refine(upsampled, x), bases.new_zeros(bases.shape[0])
