"""Distortion metrics: PSNR-RGB, PSNR-YUV (6Y+U+V)/8 on BT.709 4:2:0, MS-SSIM."""

from __future__ import annotations

import numpy as np
import torch

from ..codec.color import BT709_KB, BT709_KR
from ..frames import psnr_per_frame

# BT.709 limited range, as float (measurement only; the codec uses color.py's fixed point).
_KR, _KB = BT709_KR, BT709_KB


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 arrays of any shape, peak 255; identical inputs give 100."""
    return float(psnr_per_frame(np.asarray(a)[None], np.asarray(b)[None])[0])


def psnr_rgb_per_frame(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 pairs -> (T,) dB, 8-bit RGB, peak 255."""
    return psnr_per_frame(ref, test)


def rgb_to_yuv420_float(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., H, W, 3) uint8 -> Y (..., H, W), U and V (..., H/2, W/2) on the 8-bit limited-range scale."""
    c = rgb.astype(np.float32) / 255.0
    y = _KR * c[..., 0] + (1 - _KR - _KB) * c[..., 1] + _KB * c[..., 2]
    u = (c[..., 2] - y) / (2 * (1 - _KB))
    v = (c[..., 0] - y) / (2 * (1 - _KR))
    h, w = y.shape[-2:]

    def sub(x: np.ndarray) -> np.ndarray:
        x = x[..., : h // 2 * 2, : w // 2 * 2]
        return x.reshape(*x.shape[:-2], h // 2, 2, w // 2, 2).mean(axis=(-3, -1))

    return 16 + 219 * y, 128 + 224 * sub(u), 128 + 224 * sub(v)


def psnr_yuv_per_frame(ref: np.ndarray, test: np.ndarray) -> np.ndarray:
    """(6·PSNR_Y + PSNR_U + PSNR_V) / 8 per frame of (T, H, W, 3) uint8 pairs, dB."""
    (ry, ru, rv), (ty, tu, tv) = rgb_to_yuv420_float(ref), rgb_to_yuv420_float(test)
    return (6 * psnr_per_frame(ry, ty) + psnr_per_frame(ru, tu) + psnr_per_frame(rv, tv)) / 8


MS_SSIM_MIN_SIDE = 161  # MS-SSIM's five scales with an 11-tap window need this many pixels


def ms_ssim_per_frame(ref: np.ndarray, test: np.ndarray, batch: int = 25) -> np.ndarray:
    """MS-SSIM on RGB, data range 255, per frame of (T, H, W, 3) uint8 pairs -> (T,).

    Frames under MS_SSIM_MIN_SIDE px get single-scale SSIM instead (the bench reports
    those as missing rather than mix the two).
    """
    from pytorch_msssim import ms_ssim, ssim

    fn = ms_ssim if min(ref.shape[1:3]) >= MS_SSIM_MIN_SIDE else ssim
    out = []
    with torch.no_grad():
        for i in range(0, len(ref), batch):
            r = torch.from_numpy(np.ascontiguousarray(ref[i : i + batch])).permute(0, 3, 1, 2).float()
            t = torch.from_numpy(np.ascontiguousarray(test[i : i + batch])).permute(0, 3, 1, 2).float()
            out.append(fn(r, t, data_range=255.0, size_average=False).numpy())
    return np.concatenate(out)
