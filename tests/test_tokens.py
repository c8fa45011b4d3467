"""imfcodec/codec/tokens.py: closed-loop DPCM of tokens."""

from __future__ import annotations

import numpy as np

from imfcodec.codec.tokens.quantize import dequantize_tokens, quantize_tokens


def test_dpcm_round_trip_and_bounded_error() -> None:
    rng = np.random.default_rng(0)
    tokens = np.cumsum(rng.normal(0, 0.1, size=(50, 8)), axis=0)
    start = tokens[0] + 0.01
    q, decoded = quantize_tokens(tokens, start, 0.125)
    np.testing.assert_array_equal(dequantize_tokens(q, start, 0.125), decoded)
    # Closed loop: the error never drifts beyond half a step.
    assert np.abs(decoded - tokens).max() <= 0.0625 + 1e-12


def test_equal_tokens_give_zero_residuals() -> None:
    t = np.ones((5, 4))
    q, _ = quantize_tokens(t, np.ones(4), 0.1)
    assert not q.any()
