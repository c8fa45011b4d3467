"""Token prediction and quantisation (DPCM), shared by the encoder, decoder and training.

Each token is predicted from the previous *decoded* token; the first of a keyframe group
is predicted from the keyframe's own token (computed from the decoded keyframe on both
sides). The residual is rounded to a multiple of `step`. Decoding sums residuals in the
same order, in float64, so encoder and decoder agree to the last bit on one machine, and
the integers themselves never depend on floating point.
"""

from __future__ import annotations

import numpy as np


def quantize_tokens(tokens: np.ndarray, start: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """tokens (T, D), start (D,) -> (integer residuals (T, D) int64, decoded tokens (T, D) float64)."""
    prev = np.asarray(start, dtype=np.float64)
    q = np.empty(tokens.shape, dtype=np.int64)
    decoded = np.empty(tokens.shape, dtype=np.float64)
    for i, t in enumerate(np.asarray(tokens, dtype=np.float64)):
        q[i] = np.rint((t - prev) / step)
        prev = prev + q[i] * step
        decoded[i] = prev
    return q, decoded


def dequantize_tokens(residuals: np.ndarray, start: np.ndarray, step: float) -> np.ndarray:
    """Inverse of quantize_tokens' integers: (T, D) int -> decoded tokens (T, D) float64."""
    prev = np.asarray(start, dtype=np.float64)
    out = np.empty(residuals.shape, dtype=np.float64)
    for i, r in enumerate(np.asarray(residuals, dtype=np.int64)):
        prev = prev + r * step
        out[i] = prev
    return out
