"""Model calls on fixed-size batches: CPU kernels pick their algorithm, and so their
rounding, by the batch's shape, and in the token mode a token that rounds differently
changes the file. Every encoder call runs on MODEL_BATCH rows, so that a file does not
depend on how frames fall into batches. (Measured before: imf-small-v2 wrote different
bytes at batch sizes 16 and 1, and at batch 5 on 1 and 2 threads.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

MODEL_BATCH = 16  # frames per model call in the encoder, fixed (no option)


def in_fixed_batches(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """fn over `x` (N, ...) with N <= MODEL_BATCH, run on exactly MODEL_BATCH rows (the last
    row repeated). Returns fn's first N rows."""
    n = x.shape[0]
    assert n <= MODEL_BATCH
    padded = torch.cat([x, x[-1:].expand(MODEL_BATCH - n, *x.shape[1:])]) if n < MODEL_BATCH else x
    return fn(padded)[:n]


def batches(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Frames (S, S, 3) in stacks of `size` (T, S, S, 3), the last one shorter."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
