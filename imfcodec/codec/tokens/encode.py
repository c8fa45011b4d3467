"""The token mode's encoder loop: a keyframe per group, a quantised token per frame.

For each group the encoder codes the keyframe, decodes it exactly as the decoder will,
builds the reference from that decoded picture, and then codes every following frame as a
quantised token residual. It decodes each frame in the loop and starts a new keyframe when
the reconstruction's PSNR against the source falls below --refresh-psnr, at a scene cut,
or when the group reaches --max-keyframe-interval. Under --bitrate (rate_control.py) the
budget decides each keyframe's quality and whether a refresh is afforded yet.
"""

from __future__ import annotations

import dataclasses
import itertools
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
from ..options import DEFAULT_QUALITY, EncodeOptions
from ..summary import SCENE_CUT_PSNR, EncodeSummary
from .quantize import quantize_tokens
from .rate_control import GROUP_FRAMING_BYTES, TokenRateControl

# Frames whose tokens the budget's plan looks at before the first is coded: the token
# quality is fixed for the file, and a forecast from the first 16 frames of a clip whose
# motion starts later put it 33 % over its rate (tpsmm-driving at 1.5 kbps).
LOOKAHEAD_FRAMES = 250


class _Group:
    """The keyframe group being built: its reference, last decoded token and residual rows.
    `limit`: frames it may reach before a keyframe is tried; `refresh_from`: the first of
    its frames whose low in-loop PSNR may start one; `cut_from`: the first a cut may start
    (later than its second frame only after the budget refused a keyframe)."""

    def __init__(self, first_frame: int, keyframe: bytes, state: ReferenceState, limit: int, refresh_from: int) -> None:
        self.first_frame = first_frame
        self.keyframe = keyframe
        self.state = state
        self.last_token = state.token[0].double().cpu().numpy()
        self.residuals: list[np.ndarray] = []
        self.limit = limit
        self.refresh_from = refresh_from
        self.cut_from = 1

    @property
    def frame_count(self) -> int:
        return 1 + len(self.residuals)


def settle_tokens(
    frames: Iterator[np.ndarray],
    options: EncodeOptions,
    loaded: LoadedModel,
    fps: float,
    total_hint: int | None,
    header_bytes: int,
) -> tuple[Iterator[np.ndarray], EncodeOptions, TokenRateControl | None]:
    """Under a rate, plan the budget from the first frames (rate_control.py) and fix the
    token quality the HEAD records; the frames come back whole. Constant quality: as given.
    A rate the user asked for that cannot be met is an error; the default rate does its best."""
    if not options.rate_controlled:
        return frames, options, None
    model = loaded.model
    assert isinstance(model, IMF) and loaded.tables is not None and options.bitrate_kbps is not None
    first = list(itertools.islice(frames, LOOKAHEAD_FRAMES))
    if not first:  # an empty input: the encoder says so after the loop
        return iter(()), dataclasses.replace(options, quality=DEFAULT_QUALITY), None
    tokens = np.concatenate([_tokens_of(model, np.stack(first[i : i + MODEL_BATCH])) for i in range(0, len(first), MODEL_BATCH)])
    rate = TokenRateControl(
        options.bitrate_kbps,
        fps,
        total_hint,
        options.max_keyframe_interval,
        get_codec(options.keyframes),
        header_bytes,
        strict=not options.default_rate,
    )
    plan = rate.start(tokens, loaded.tables, first[0])
    rate.lookahead_tokens = tokens  # the coding loop's first batches: ET runs once per frame
    return itertools.chain(first, frames), dataclasses.replace(options, quality=plan.quality), rate


def code_tokens(
    frames: Iterator[np.ndarray],
    writer: Writer,
    loaded: LoadedModel,
    options: EncodeOptions,
    summary: EncodeSummary,
    report: Callable[[], None],
    rate: TokenRateControl | None = None,
) -> None:
    """Code every frame of `frames` (S, S, 3) uint8 into `writer`'s groups; `options` resolved
    (and settled by settle_tokens, whose `rate` is passed on under --bitrate)."""
    model = loaded.model
    assert isinstance(model, IMF) and loaded.tables is not None and options.quality is not None
    device = next(model.parameters()).device
    table = loaded.tables[options.quality - 1]
    step = quality_step(options.quality)
    codec = get_codec(options.keyframes)
    refresh = options.refresh_psnr or None  # 0: never refresh on quality
    quality = options.quality
    max_interval = options.max_keyframe_interval
    # Under a budget the planned group length bounds a group until a keyframe is afforded,
    # and a refresh on quality waits for the rate control's shortest group.
    limit = max_interval if rate is None or rate.plan is None else min(max_interval, rate.plan.group_frames)
    refresh_from = 1 if rate is None else rate.min_group

    def start_group(index: int, frame: np.ndarray, payload: bytes) -> _Group:
        decoded = codec.decode(payload)
        with torch.no_grad():
            state = model.prepare_reference(frames_to_tensor(decoded[None], device))
        summary.keyframes += 1
        summary.keyframe_positions.append(index)
        summary.psnr_sum += float(psnr_per_frame(decoded[None], frame[None])[0])
        return _Group(index, payload, state, limit, refresh_from)

    def token_payload(g: _Group) -> tuple[bytes, int]:
        rows = np.stack(g.residuals) if g.residuals else np.zeros((0, table.shape[0]), dtype=np.int64)
        return (entropy.encode(rows, table) if len(rows) else b""), len(rows)

    def finish_group(g: _Group) -> None:
        tokens, rows = token_payload(g)
        writer.write_group(GroupRecord(g.first_frame, g.frame_count, g.keyframe, tokens))
        summary.keyframe_bytes += len(g.keyframe)
        summary.token_bytes += len(tokens)
        if rate is not None:
            rate.record_tokens(len(tokens), rows)

    def keyframe_for(index: int, frame: np.ndarray, open_group: _Group | None, forced: bool) -> bytes | None:
        """The picture that starts a group at `index`, or None where the budget says wait."""
        if rate is None:
            return codec.encode(frame, quality)
        written = writer.file.tell()
        if open_group is not None:  # its bytes are spent too, though not yet written
            written += len(open_group.keyframe) + len(token_payload(open_group)[0]) + GROUP_FRAMING_BYTES
        return rate.keyframe(frame, index, written, forced)

    def extend(g: _Group, frames: np.ndarray, tokens: np.ndarray, previous: np.ndarray) -> int:
        """Add the leading frames of `frames` (T, S, S, 3) that need no keyframe to `g`;
        `previous` is the source frame before them. Returns how many were added."""
        q, decoded_tokens = quantize_tokens(tokens, g.last_token, step)
        with torch.no_grad():
            recon = tensor_to_frames(
                in_fixed_batches(lambda t: model.decode(g.state, t), torch.from_numpy(decoded_tokens).float().to(device))
            )
        psnr = psnr_per_frame(recon, frames)
        position = g.frame_count + np.arange(len(frames))
        bad = _cuts(previous, frames) & (position >= g.cut_from)
        if refresh is not None:
            bad |= (psnr < refresh) & (position >= g.refresh_from)
        accept = int(np.argmax(bad)) if bad.any() else len(frames)
        if accept:
            g.residuals.extend(q[:accept])
            g.last_token = decoded_tokens[accept - 1]
            summary.psnr_sum += float(psnr[:accept].sum())
        return accept

    group: _Group | None = None
    previous: np.ndarray | None = None  # the last source frame coded
    lookahead = rate.lookahead_tokens if rate is not None else np.zeros((0,))
    for batch in batches(frames, MODEL_BATCH):
        first = summary.frames
        # Batches start at multiples of MODEL_BATCH, as the look-ahead's did: the same tokens.
        tokens = lookahead[first : first + len(batch)] if first + len(batch) <= len(lookahead) else _tokens_of(model, batch)
        pos = 0
        while pos < len(batch):
            if group is not None and previous is not None and group.frame_count < group.limit:
                end = min(len(batch), pos + group.limit - group.frame_count)
                accepted = extend(group, batch[pos:end], tokens[pos:end], previous)
                if accepted:
                    previous = batch[pos + accepted - 1]
                pos += accepted
                if pos == end:  # all taken: the batch is done, or the group is at its limit
                    continue
            # A keyframe is due at `pos`: the first frame, a cut, a full group or a bad reconstruction.
            index = summary.frames + pos
            # Under a budget only the first frame and a full group force one: a cut waits,
            # like a refresh, for a keyframe the budget affords (constant quality never waits).
            forced = group is None or group.frame_count >= max_interval
            payload = keyframe_for(index, batch[pos], group, forced)
            if payload is None:  # the budget cannot pay for it yet: the group runs on
                assert group is not None
                group.refresh_from = group.cut_from = group.frame_count + refresh_from
                group.limit = max(group.limit, min(max_interval, group.frame_count + refresh_from))
                continue
            if group is not None:
                finish_group(group)
            group = start_group(index, batch[pos], payload)
            previous = batch[pos]
            pos += 1
        summary.frames += len(batch)
        report()
    if group is not None:
        finish_group(group)


def _tokens_of(model: IMF, frames: np.ndarray) -> np.ndarray:
    """ET's tokens (T, D) float64 of `frames` (T, S, S, 3) uint8, in the encoder's fixed batches."""
    device = next(model.parameters()).device
    with torch.no_grad():
        return in_fixed_batches(model.encode_tokens, frames_to_tensor(frames, device)).double().cpu().numpy()


def _cuts(previous: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T,) bool: where each of `frames` (T, S, S, 3) differs from the one before it (the
    first from `previous`) as a scene cut does."""
    return psnr_per_frame(np.concatenate([previous[None], frames[:-1]]), frames) < SCENE_CUT_PSNR
