"""The hybrid mode's decoder: one group from its base layer (and keyframe picture, if it has
one) to frames. The encoder's loop calls the same functions, so both compute the same frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from imfcodec.bitstream.container import GroupRecord, ImfFile

from ...errors import ImfcodecError
from ...frames import frames_to_tensor, tensor_to_frames
from ...model.build import HYBRID_MODELS, HybridModel
from ...model.hybrid import upsample
from ...model.weights import LoadedModel
from .base_layer import base_pictures


def iter_hybrid_group(
    model: HybridModel, keyframe: np.ndarray | None, bases: np.ndarray, batch_size: int, device: torch.device, start: int = 0
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
            yield from tensor_to_frames(model.decode(reference, pictures))  # type: ignore[arg-type]  # each model's own reference


def reference_picture(bases: np.ndarray, size: int) -> np.ndarray:
    """The reference of a group without a keyframe picture: its first base picture
    (B, B, 3 of bases (T, B, B, 3)) bicubic upscaled and rounded, (size, size, 3) uint8.
    Measured on the dev clips (docs/TRAINING.md), imf-hybrid-v1 keeps almost all of its
    gain over the bicubic base with this reference, and the keyframe's ~1 kB is saved."""
    return upsampled_frames(bases[:1], size)[0]


def decode_hybrid_group(
    model: HybridModel, keyframe: np.ndarray | None, bases: np.ndarray, batch_size: int, device: torch.device
) -> np.ndarray:
    """All the group's frames, (T, S, S, 3) uint8."""
    return np.stack(list(iter_hybrid_group(model, keyframe, bases, batch_size, device)))


def upsampled_frames(bases: np.ndarray, size: int, batch_size: int = 16) -> np.ndarray:
    """Base pictures (T, B, B, 3) uint8, bicubic upscaled as the hybrid's starting point:
    (T, size, size, 3) uint8, what the untrained hybrid and the low-res anchor's idea show."""
    out = [tensor_to_frames(upsample(frames_to_tensor(bases[i : i + batch_size]), size)) for i in range(0, len(bases), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def group_base_pictures(imf: ImfFile, group: GroupRecord) -> np.ndarray:
    """A hybrid group's base picture for each of its frames, (frame_count, B, B, 3), filled
    as the file's HEAD says (`bp`, `bf`; a file without them codes every frame)."""
    step, fill = int(imf.header.get("base_step", 1)), str(imf.header.get("base_fill", "repeat"))
    return base_pictures(group.base or b"", group.frame_count, step, fill)


def hybrid_group_frames(
    imf: ImfFile, group: GroupRecord, key: np.ndarray | None, loaded: LoadedModel, lo: int, hi: int, batch_size: int
) -> Iterator[np.ndarray]:
    """Frames lo..hi-1 of a hybrid group (0: its keyframe, if it has one), from its base layer."""
    model = loaded.model
    if not isinstance(model, HYBRID_MODELS):
        raise ImfcodecError(f"{loaded.path.name} is not a hybrid model, and this file has a base layer")
    if group.base is None:
        raise ImfcodecError(f"group at frame {group.first_frame} has no base layer")
    bases = group_base_pictures(imf, group)[:hi]
    side = int(imf.header["base_size"])
    if bases.shape[1:3] != (side, side):
        raise ImfcodecError(
            f"the base layer of the group at frame {group.first_frame} is {bases.shape[2]}x{bases.shape[1]}, not {side}x{side}"
        )
    yield from iter_hybrid_group(model, key, bases, batch_size, next(model.parameters()).device, start=lo)
