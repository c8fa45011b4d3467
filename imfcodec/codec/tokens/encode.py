"""The token mode's encoder loop: a keyframe per group, a quantised token per frame.

For each group the encoder codes the keyframe, decodes it exactly as the decoder will,
builds the reference from that decoded picture, and then codes every following frame as a
quantised token residual. It decodes each frame in the loop and starts a new keyframe when
the reconstruction's PSNR against the source falls below --refresh-psnr, at a scene cut,
or when the group reaches --max-keyframe-interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from imfcodec.bitstream import entropy
from imfcodec.bitstream.container import GroupRecord, Writer

from ...frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from ...model.imf import IMF, ReferenceState
from ...model.weights import LoadedModel
from ...quality import quality_step
from ..batching import MODEL_BATCH, batches, in_fixed_batches
from ..keyframes import get_codec
from ..options import EncodeOptions
from ..summary import SCENE_CUT_PSNR, EncodeSummary
from .quantize import quantize_tokens


class _Group:
    """The keyframe group being built: its reference, last decoded token and residual rows."""

    def __init__(self, first_frame: int, keyframe: bytes, state: ReferenceState) -> None:
        self.first_frame = first_frame
        self.keyframe = keyframe
        self.state = state
        self.last_token = state.token[0].double().cpu().numpy()
        self.residuals: list[np.ndarray] = []

    @property
    def frame_count(self) -> int:
        return 1 + len(self.residuals)


def code_tokens(
    frames: Iterator[np.ndarray],
    writer: Writer,
    loaded: LoadedModel,
    options: EncodeOptions,
    summary: EncodeSummary,
    report: Callable[[], None],
) -> None:
    """Code every frame of `frames` (S, S, 3) uint8 into `writer`'s groups; `options` resolved."""
    model = loaded.model
    assert isinstance(model, IMF) and loaded.tables is not None and options.quality is not None
    device = next(model.parameters()).device
    table = loaded.tables[options.quality - 1]
    step = quality_step(options.quality)
    codec = get_codec(options.keyframes)
    refresh = options.refresh_psnr or None  # 0: never refresh on quality
    quality = options.quality

    def start_group(index: int, frame: np.ndarray) -> _Group:
        payload = codec.encode(frame, quality)
        decoded = codec.decode(payload)
        with torch.no_grad():
            state = model.prepare_reference(frames_to_tensor(decoded[None], device))
        summary.keyframes += 1
        summary.keyframe_positions.append(index)
        summary.psnr_sum += float(psnr_per_frame(decoded[None], frame[None])[0])
        return _Group(index, payload, state)

    def finish_group(g: _Group) -> None:
        rows = np.stack(g.residuals) if g.residuals else np.zeros((0, table.shape[0]), dtype=np.int64)
        tokens = entropy.encode(rows, table) if len(rows) else b""
        writer.write_group(GroupRecord(g.first_frame, g.frame_count, g.keyframe, tokens))
        summary.keyframe_bytes += len(g.keyframe)
        summary.token_bytes += len(tokens)

    def extend(g: _Group, frames: np.ndarray, tokens: np.ndarray, previous: np.ndarray) -> int:
        """Add the leading frames of `frames` (T, S, S, 3) that need no keyframe to `g`;
        `previous` is the source frame before them. Returns how many were added."""
        q, decoded_tokens = quantize_tokens(tokens, g.last_token, step)
        with torch.no_grad():
            recon = tensor_to_frames(
                in_fixed_batches(lambda t: model.decode(g.state, t), torch.from_numpy(decoded_tokens).float().to(device))
            )
        psnr = psnr_per_frame(recon, frames)
        cut = psnr_per_frame(np.concatenate([previous[None], frames[:-1]]), frames) < SCENE_CUT_PSNR
        bad = cut | (psnr < refresh) if refresh is not None else cut
        accept = int(np.argmax(bad)) if bad.any() else len(frames)
        if accept:
            g.residuals.extend(q[:accept])
            g.last_token = decoded_tokens[accept - 1]
            summary.psnr_sum += float(psnr[:accept].sum())
        return accept

    group: _Group | None = None
    previous: np.ndarray | None = None  # the last source frame coded
    for batch in batches(frames, MODEL_BATCH):
        with torch.no_grad():
            tokens = in_fixed_batches(model.encode_tokens, frames_to_tensor(batch, device)).double().cpu().numpy()
        pos = 0
        while pos < len(batch):
            if group is not None and previous is not None and group.frame_count < options.max_keyframe_interval:
                end = min(len(batch), pos + options.max_keyframe_interval - group.frame_count)
                accepted = extend(group, batch[pos:end], tokens[pos:end], previous)
                if accepted:
                    previous = batch[pos + accepted - 1]
                pos += accepted
                if pos == end:  # all taken: the batch is done, or the group is full
                    continue
            # The frame at `pos` starts a group: the first frame, a full group, a cut or a bad reconstruction.
            if group is not None:
                finish_group(group)
            group = start_group(summary.frames + pos, batch[pos])
            previous = batch[pos]
            pos += 1
        summary.frames += len(batch)
        report()
    if group is not None:
        finish_group(group)
