"""One hybrid keyframe group from its decoded pictures to frames: shared by the decoder and
by the encoder's loop, so both compute exactly the same frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ..frames import frames_to_tensor, tensor_to_frames
from ..model.hybrid import HybridIMF, upsample


def iter_hybrid_group(
    model: HybridIMF, keyframe: np.ndarray | None, bases: np.ndarray, batch_size: int, device: torch.device, start: int = 0
) -> Iterator[np.ndarray]:
    """keyframe (S, S, 3) and the group's base pictures (T, B, B, 3) uint8 -> frames
    start..T-1 of the group, (S, S, 3) uint8 each. Frame 0 is the decoded keyframe itself.

    keyframe None (a group without a keyframe picture, format 1.2): the reference is the
    first base picture upscaled (`reference_picture`), and every frame, the first included,
    is the model's output for its base picture."""
    with torch.no_grad():
        reference_image = reference_picture(bases, model.config.size) if keyframe is None else keyframe
        reference = model.prepare_reference(frames_to_tensor(reference_image[None], device), frames_to_tensor(bases[:1], device))
        if start == 0 and keyframe is not None:
            yield keyframe
            start = 1
        for b in range(start, len(bases), batch_size):
            pictures = frames_to_tensor(bases[b : b + batch_size], device).contiguous(memory_format=torch.channels_last)
            yield from tensor_to_frames(model.decode(reference, pictures))


def reference_picture(bases: np.ndarray, size: int) -> np.ndarray:
    """The reference of a group without a keyframe picture: its first base picture
    (B, B, 3 of bases (T, B, B, 3)) bicubic upscaled and rounded, (size, size, 3) uint8.
    Measured on the dev clips (docs/TRAINING.md), imf-hybrid-v1 keeps almost all of its
    gain over the bicubic base with this reference, and the keyframe's ~1 kB is saved."""
    return upsampled_frames(bases[:1], size)[0]


def decode_hybrid_group(
    model: HybridIMF, keyframe: np.ndarray | None, bases: np.ndarray, batch_size: int, device: torch.device
) -> np.ndarray:
    """All the group's frames, (T, S, S, 3) uint8."""
    return np.stack(list(iter_hybrid_group(model, keyframe, bases, batch_size, device)))


def upsampled_frames(bases: np.ndarray, size: int, batch_size: int = 16) -> np.ndarray:
    """Base pictures (T, B, B, 3) uint8, bicubic upscaled as the hybrid's starting point:
    (T, size, size, 3) uint8, what the untrained hybrid and the low-res anchor's idea show."""
    out = [tensor_to_frames(upsample(frames_to_tensor(bases[i : i + batch_size]), size)) for i in range(0, len(bases), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)
