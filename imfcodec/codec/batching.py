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
# Frames per call of a hybrid model (the encoder's in-loop decode, and the decoder's
# default). Its output decides no byte of a file, so this is chosen for speed: on 2 CPU
# cores the refiner's activations at 16 frames (37 MB a tensor for 256² frames) outrun the
# caches. At 4, the model part of a 250-frame decode took 20 % less time alone (imf-hybrid-
# v4 10.5 -> 8.4 s) and the whole decode command 5-8 % less, half the system time, with the
# same frames, pixel for pixel (docs/BENCHMARKS.md).
HYBRID_BATCH = 4
TOKEN_DECODE_BATCH = 16  # the token mode's decoder default


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
