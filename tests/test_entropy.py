"""bitstream/entropy.py: integer tables, range coding, the rate estimate."""

from __future__ import annotations

import numpy as np
import pytest

from imfcodec.bitstream import entropy


def tables(dim: int = 16, scale: float = 1.5) -> np.ndarray:
    return entropy.build_tables(np.full(dim, scale), 24)


def test_frequencies_are_exact_integers() -> None:
    t = tables()
    assert t.dtype == np.int32 and t.shape == (16, 50)
    assert (t.sum(axis=1) == 2**16).all() and (t > 0).all()


def test_round_trip_with_escapes() -> None:
    rng = np.random.default_rng(0)
    values = np.rint(rng.laplace(0, 1.5, size=(100, 16))).astype(np.int64)
    values[3, 2], values[50, 0], values[99, 15] = 400, -32768, 32767  # escapes, range ends
    table = tables()
    data = entropy.encode(values, table)
    assert len(data) % 4 == 0
    np.testing.assert_array_equal(entropy.decode(data, 100, table), values)


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        entropy.encode(np.array([[40000] + [0] * 15]), tables())


def test_bits_within_two_percent_of_estimate() -> None:
    rng = np.random.default_rng(1)
    table = tables(32, 2.0)
    values = np.rint(rng.laplace(0, 2.0, size=(250, 32))).astype(np.int64)
    coded_bits = 8 * len(entropy.encode(values, table))
    estimate = entropy.estimate_bits(values, table)
    assert abs(coded_bits - estimate) / estimate < 0.02


def test_different_tables_give_different_streams() -> None:
    values = np.zeros((4, 16), dtype=np.int64)
    values[0, 0] = 3
    assert entropy.encode(values, tables(scale=0.5)) != entropy.encode(values, tables(scale=4.0))


def test_garbage_and_overlong_counts_are_format_errors() -> None:
    """Bytes the coder did not write, or more rows than it wrote, fail as the file's fault.
    Fails if decode hands back whatever a stream happens to decode to."""
    from imfcodec.bitstream.container import FormatError

    table = tables(scale=1.0)
    rng = np.random.default_rng(0)
    values = rng.integers(-3, 4, size=(5, 16))
    data = entropy.encode(values, table)
    for rows, payload in [(127, data), (5, rng.integers(0, 256, size=64, dtype=np.uint8).tobytes())]:
        with pytest.raises(FormatError):
            entropy.decode(payload, rows, table)


def test_a_stream_for_more_rows_is_refused() -> None:
    """A stream coded for 40 rows read as 30: the range decoder alone returns the first 30
    (it cannot tell the words after them from the stream's tail); the stream is refused.
    Fails if decode stops checking that the stream is exactly its rows' bytes."""
    from imfcodec.bitstream.container import FormatError

    table = tables(dim=1, scale=1.0)
    values = np.random.default_rng(2).integers(-2, 3, size=(40, 1))
    data = entropy.encode(values, table)
    np.testing.assert_array_equal(entropy.decode(data, 40, table), values)
    with pytest.raises(FormatError, match="more than"):
        entropy.decode(data, 30, table)
    with pytest.raises(FormatError, match="more than"):
        entropy.decode(entropy.encode(values[:30], table) + bytes(4), 30, table)  # a word of padding
