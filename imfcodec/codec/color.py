"""RGB <-> YUV 4:2:0 in integer arithmetic (BT.709, limited range).

The keyframe codecs work on YUV 4:2:0. The conversion back to RGB feeds the decoder's
reference, so it must give the same bytes on every machine: it is done here in
fixed-point NumPy rather than by the host's swscale build, whose SIMD paths may differ.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_SHIFT = 16
_ONE = 1 << _SHIFT
# BT.709 luma weights of R and B (G's is the rest); limited range, 8 bit.
BT709_KR, BT709_KB = 0.2126, 0.0722
_KR, _KB = BT709_KR, BT709_KB
_KG = 1 - _KR - _KB


def _fix(x: float) -> int:
    return int(round(x * _ONE))


_Y = [_fix(219 / 255 * _KR), _fix(219 / 255 * _KG), _fix(219 / 255 * _KB)]
_U = [_fix(-224 / 255 * _KR / (2 * (1 - _KB))), _fix(-224 / 255 * _KG / (2 * (1 - _KB))), _fix(224 / 255 * 0.5)]
_V = [_fix(224 / 255 * 0.5), _fix(-224 / 255 * _KG / (2 * (1 - _KR))), _fix(-224 / 255 * _KB / (2 * (1 - _KR)))]
# YUV -> RGB
_R_V = _fix(255 / 224 * 2 * (1 - _KR))
_G_U = _fix(-255 / 224 * 2 * (1 - _KB) * _KB / _KG)
_G_V = _fix(-255 / 224 * 2 * (1 - _KR) * _KR / _KG)
_B_U = _fix(255 / 224 * 2 * (1 - _KB))
_Y_GAIN = _fix(255 / 219)
_HALF = 1 << (_SHIFT - 1)


def rgb_to_yuv420(rgb: npt.NDArray[np.uint8]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB, H and W even -> Y (H, W), U (H/2, W/2), V (H/2, W/2) uint8."""
    h, w, _ = rgb.shape
    if h % 2 or w % 2:
        raise ValueError("4:2:0 needs even sides")
    c = rgb.astype(np.int64)
    r, g, b = c[..., 0], c[..., 1], c[..., 2]
    y = ((_Y[0] * r + _Y[1] * g + _Y[2] * b + _HALF) >> _SHIFT) + 16

    # Chroma from the 2×2 mean of RGB (sums of four, so one more shift of 2).
    def pool(x: np.ndarray) -> np.ndarray:
        return x.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3))

    rs, gs, bs = pool(r), pool(g), pool(b)
    u = ((_U[0] * rs + _U[1] * gs + _U[2] * bs + (_HALF << 2)) >> (_SHIFT + 2)) + 128
    v = ((_V[0] * rs + _V[1] * gs + _V[2] * bs + (_HALF << 2)) >> (_SHIFT + 2)) + 128
    return tuple(np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v))


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> npt.NDArray[np.uint8]:
    """Inverse of rgb_to_yuv420, chroma upsampled by repetition. -> (H, W, 3) uint8."""
    yy = (y.astype(np.int64) - 16) * _Y_GAIN
    uu = np.repeat(np.repeat(u.astype(np.int64) - 128, 2, axis=0), 2, axis=1)[: y.shape[0], : y.shape[1]]
    vv = np.repeat(np.repeat(v.astype(np.int64) - 128, 2, axis=0), 2, axis=1)[: y.shape[0], : y.shape[1]]
    r = (yy + _R_V * vv + _HALF) >> _SHIFT
    g = (yy + _G_U * uu + _G_V * vv + _HALF) >> _SHIFT
    b = (yy + _B_U * uu + _HALF) >> _SHIFT
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
