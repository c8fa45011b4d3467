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
from ...model.flow_hybrid import FlowHybrid
from ...model.hybrid import upsample
from ...model.weights import LoadedModel
from .base_layer import base_pictures


def neighbour_positions(frame_count: int, step: int, low_delay: bool = False) -> np.ndarray:
    """For each frame t of a group whose base layer codes every `step`-th frame, the frames
    of the coded pictures just before and just after it, (frame_count, 2): t itself where
    there is none (the first frame; the frames after the last coded picture). With
    `low_delay` the later one is always t itself: a frame never waits for a later picture."""
    t = np.arange(frame_count)
    last_coded = (frame_count - 1) // step * step
    before = np.where(t > 0, (t - 1) // step * step, t)
    after = (t // step + 1) * step
    after = np.where((after <= last_coded) & (not low_delay), after, t)
    return np.stack([before, after], axis=1)


def iter_hybrid_group(
    model: HybridModel,
    keyframe: np.ndarray | None,
    bases: np.ndarray,
    batch_size: int,
    device: torch.device,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    low_delay: bool = False,
) -> Iterator[np.ndarray]:
    """keyframe (S, S, 3) and the group's base pictures (T, B, B, 3) uint8 -> frames
    start..stop-1 (default T-1) of the group, (S, S, 3) uint8 each. Frame 0 is the decoded
    keyframe itself. A model that reads neighbouring pictures gets them from `bases` as
    neighbour_positions(T, step, low_delay) names them.

    keyframe None (a group without a keyframe picture, format 1.2): the reference is the
    first base picture upscaled (`reference_picture`), and every frame, the first included,
    is the model's output for its base picture."""
    stop = len(bases) if stop is None else stop
    count = model.config.neighbour_pictures
    positions = neighbour_positions(len(bases), step, low_delay) if count else None
    with torch.no_grad():
        reference_image = reference_picture(bases, model.config.size) if keyframe is None else keyframe
        reference = model.prepare_reference(frames_to_tensor(reference_image[None], device), frames_to_tensor(bases[:1], device))
        if start == 0 and keyframe is not None:
            yield keyframe
            start = 1
        for b in range(start, stop, batch_size):
            e = min(b + batch_size, stop)
            pictures = frames_to_tensor(bases[b:e], device).contiguous(memory_format=torch.channels_last)
            if positions is None:
                yield from tensor_to_frames(model.decode(reference, pictures))  # type: ignore[arg-type]  # each model's own reference
                continue
            assert isinstance(model, FlowHybrid), "IMFConfig allows neighbouring pictures only to hybrid v2"
            around = frames_to_tensor(bases[positions[b:e].reshape(-1)], device)
            neighbours = around.reshape(e - b, count, *around.shape[1:])
            yield from tensor_to_frames(model.decode(reference, pictures, neighbours=neighbours))  # type: ignore[arg-type]


def reference_picture(bases: np.ndarray, size: int) -> np.ndarray:
    """The reference of a group without a keyframe picture: its first base picture
    (B, B, 3 of bases (T, B, B, 3)) bicubic upscaled and rounded, (size, size, 3) uint8.
    Measured on the dev clips (docs/TRAINING.md), imf-hybrid-v1 keeps almost all of its
    gain over the bicubic base with this reference, and the keyframe's ~1 kB is saved."""
    return upsampled_frames(bases[:1], size)[0]


def decode_hybrid_group(
    model: HybridModel,
    keyframe: np.ndarray | None,
    bases: np.ndarray,
    batch_size: int,
    device: torch.device,
    step: int = 1,
    low_delay: bool = False,
) -> np.ndarray:
    """All the group's frames, (T, S, S, 3) uint8; `step` and `low_delay` as the file's layer."""
    return np.stack(list(iter_hybrid_group(model, keyframe, bases, batch_size, device, step=step, low_delay=low_delay)))


def upsampled_frames(bases: np.ndarray, size: int, batch_size: int = 16) -> np.ndarray:
    """Base pictures (T, B, B, 3) uint8, bicubic upscaled as the hybrid's starting point:
    (T, size, size, 3) uint8, what the untrained hybrid and the low-res anchor's idea show."""
    out = [tensor_to_frames(upsample(frames_to_tensor(bases[i : i + batch_size]), size)) for i in range(0, len(bases), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, size, size, 3), np.uint8)


def base_layer_timing(imf: ImfFile) -> tuple[int, bool]:
    """A hybrid file's base picture step and whether its layer is low delay (HEAD `bp`, `bl`;
    a file without them codes every frame, random access)."""
    return int(imf.header.get("base_step", 1)), bool(imf.header.get("base_low_delay", False))


def base_fill(imf: ImfFile) -> str:
    """How a hybrid file fills the frames its base layer skips (HEAD `bf`; `repeat` without one)."""
    return str(imf.header.get("base_fill", "repeat"))


def group_base_pictures(imf: ImfFile, group: GroupRecord, fill: str | None = None) -> np.ndarray:
    """A hybrid group's base picture for each of its frames, (frame_count, B, B, 3), filled
    as the file's HEAD says (`bp`, `bf`; a file without them codes every frame), or with
    `fill` instead of the file's (a measurement of what the fill is worth). A timed fill's
    offsets are the group's token stream."""
    fill = fill or base_fill(imf)
    return base_pictures(group.base or b"", group.frame_count, base_layer_timing(imf)[0], fill, group.tokens if fill == "timed" else b"")


def hybrid_group_frames(
    imf: ImfFile, group: GroupRecord, key: np.ndarray | None, loaded: LoadedModel, lo: int, hi: int, batch_size: int
) -> Iterator[np.ndarray]:
    """Frames lo..hi-1 of a hybrid group (0: its keyframe, if it has one), from its base layer."""
    model = loaded.model
    if not isinstance(model, HYBRID_MODELS):
        raise ImfcodecError(f"{loaded.path.name} is not a hybrid model, and this file has a base layer")
    if group.base is None:
        raise ImfcodecError(f"group at frame {group.first_frame} has no base layer")
    bases = group_base_pictures(imf, group)
    side = int(imf.header["base_size"])
    if bases.shape[1:3] != (side, side):
        raise ImfcodecError(
            f"the base layer of the group at frame {group.first_frame} is {bases.shape[2]}x{bases.shape[1]}, not {side}x{side}"
        )
    step, low_delay = base_layer_timing(imf)
    yield from iter_hybrid_group(model, key, bases, batch_size, next(model.parameters()).device, lo, hi, step, low_delay)
