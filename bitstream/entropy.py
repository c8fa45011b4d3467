"""Entropy coding of integer token residuals with integer frequency tables.

The tables are integers stored with the model, so turning bytes back into integers needs
no float network and gives the same integers on every machine. Coding is done by
constriction's range coder; each table row becomes a categorical model whose
probabilities are exact dyadic fractions (freq / 2**16), which constriction quantises
deterministically.

Alphabet of one table row (A = 2K + 2 symbols): index i in 0..2K stands for the value
i - K; index 2K + 1 is the escape. An escaped value follows immediately as a uniform
16-bit symbol holding value + 32768, so values are limited to [-32768, 32767].
"""

from __future__ import annotations

import constriction
import numpy as np
import numpy.typing as npt

from .container import FormatError

TABLE_PRECISION_BITS = 16
VALUE_LIMIT = 32767
_UNIFORM = constriction.stream.model.Uniform(2**16)
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


def laplace_frequencies(scale_in_steps: float, half_range: int) -> npt.NDArray[np.int64]:
    """Integer frequencies (2K + 2,) summing to 2**16 for a zero-mean Laplace density of
    scale `scale_in_steps` (in quantisation steps) over the values -K..K plus the escape."""
    b = max(float(scale_in_steps), 1e-3)
    values = np.arange(-half_range, half_range + 1, dtype=np.float64)

    def cdf(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0) / b), 1 - 0.5 * np.exp(-np.maximum(x, 0) / b))

    mass = cdf(values + 0.5) - cdf(values - 0.5)
    tail = max(0.0, 1.0 - float(mass.sum()))
    probs = np.append(mass, tail)
    total = 2**TABLE_PRECISION_BITS
    # Every symbol keeps at least frequency 1; the rest is shared by probability and the
    # rounding remainder goes to the most likely symbol (the table is computed once, at export).
    freqs = 1 + np.floor(probs * (total - probs.size)).astype(np.int64)
    freqs[int(np.argmax(probs))] += total - int(freqs.sum())
    return np.asarray(freqs, dtype=np.int64)


def build_tables(scales_in_steps: npt.ArrayLike, half_range: int) -> npt.NDArray[np.int32]:
    """(..., D) Laplace scales in quantisation steps -> (..., D, 2K + 2) int32 frequency tables."""
    scales = np.asarray(scales_in_steps, dtype=np.float64)
    flat = [laplace_frequencies(s, half_range) for s in scales.reshape(-1)]
    return np.stack(flat).reshape(*scales.shape, 2 * half_range + 2).astype(np.int32)


def _check_table(table: npt.NDArray[np.integer]) -> None:
    if table.ndim != 2 or table.shape[1] < 3 or table.shape[1] % 2:
        raise ValueError(f"frequency table must be (D, 2K+2), got {table.shape}")
    if np.any(table <= 0):
        raise ValueError("frequency table entries must be positive")


def _probabilities(table: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """(D, A) integer table -> (D, A) exact dyadic probabilities, one categorical per dimension."""
    probs: npt.NDArray[np.float64] = table.astype(np.float64) / table.sum(axis=1, keepdims=True)
    return probs


def estimate_bits(values: npt.NDArray[np.integer], table: npt.NDArray[np.integer]) -> float:
    """The tables' own cost of coding `values` (N, D): -log2 p per symbol, plus 16 bits per escape."""
    _check_table(table)
    half = (table.shape[1] - 2) // 2
    symbols = _symbols(values, half)
    probs = _probabilities(table)
    picked = probs[np.arange(table.shape[0])[None, :], symbols]
    escapes = int(np.count_nonzero(symbols == 2 * half + 1))
    return float(-np.log2(picked).sum()) + 16.0 * escapes


def _symbols(values: npt.NDArray[np.integer], half: int) -> npt.NDArray[np.int32]:
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < -VALUE_LIMIT - 1 or v.max() > VALUE_LIMIT):
        raise ValueError(f"token residual out of range ±{VALUE_LIMIT}")
    return np.where(np.abs(v) > half, 2 * half + 1, v + half).astype(np.int32)


def encode(values: npt.NDArray[np.integer], table: npt.NDArray[np.integer]) -> bytes:
    """Range-code integer residuals (N, D), row by row, as one stream. -> bytes (a multiple of 4)."""
    _check_table(table)
    values = np.asarray(values, dtype=np.int64)
    n, d = values.shape
    if d != table.shape[0]:
        raise ValueError(f"values have {d} dimensions, table has {table.shape[0]}")
    half = (table.shape[1] - 2) // 2
    symbols = _symbols(values, half)
    probs = _probabilities(table)
    encoder = constriction.stream.queue.RangeEncoder()
    for row in range(n):
        encoder.encode(symbols[row], _CATEGORICAL, probs)
        escaped = values[row][symbols[row] == 2 * half + 1]
        if escaped.size:
            encoder.encode((escaped + 32768).astype(np.int32), _UNIFORM)
    compressed: bytes = encoder.get_compressed().astype("<u4").tobytes()
    return compressed


def decode(data: bytes, rows: int, table: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """Inverse of `encode`: bytes -> (rows, D) int64."""
    _check_table(table)
    if len(data) % 4:
        raise FormatError("token stream length is not a multiple of 4 bytes")
    half = (table.shape[1] - 2) // 2
    d = table.shape[0]
    probs = _probabilities(table)
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    out = np.empty((rows, d), dtype=np.int64)
    try:
        for row in range(rows):
            symbols = np.asarray(decoder.decode(_CATEGORICAL, probs), dtype=np.int64)
            values = symbols - half
            escape = symbols == 2 * half + 1
            if escape.any():
                values[escape] = np.asarray(decoder.decode(_UNIFORM, int(escape.sum())), dtype=np.int64) - 32768
            out[row] = values
    except (AssertionError, ValueError, RuntimeError) as exc:  # constriction on bytes it did not write
        raise FormatError(f"token stream does not decode to {rows} rows ({type(exc).__name__})") from None
    # A range decoder reads what it needs and cannot tell words after them from the stream's
    # tail: a stream for more rows decodes its first ones. Only the encoder's own bytes for
    # these rows are a valid stream, so anything else is refused rather than half-read.
    if encode(out, table) != data:
        raise FormatError(f"token stream holds more than (or other than) its {rows} rows")
    return out
