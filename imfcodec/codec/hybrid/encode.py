"""The hybrid mode's encoder: the layer's shape settled before the header (first pass), then
groups that end at a scene cut or --max-keyframe-interval, each with its base layer (and a
keyframe picture only with --keyframe-codec). The in-loop PSNR is the decoder's own output."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from imfcodec.bitstream.container import GroupRecord, Writer

from ...frames import psnr_per_frame
from ...model.build import HYBRID_MODELS
from ...model.weights import LoadedModel
from ..batching import HYBRID_BATCH
from ..keyframes import DEFAULT_KEYFRAME_CODEC, NO_KEYFRAME, get_codec
from ..options import EncodeOptions
from ..summary import SCENE_CUT_PSNR, EncodeSummary
from .base_layer import base_pictures, decode_base, downscale, encode_base, encode_offsets
from .decode import decode_hybrid_group
from .first_pass import choose_fill, choose_layer, first_pass_budget
from .motion_fill import choose_offsets, filled_frames
from .rate_control import fit_base, fit_group, group_budget


def settle_layer(frames: Iterator[np.ndarray], options: EncodeOptions, fps: float) -> tuple[Iterator[np.ndarray], EncodeOptions]:
    """`options` with base_size, base_step and the skipped frames' fill concrete, and the
    frames to code: the first group is read ahead where the rate chooses the layer (first
    pass) or a random-access layer skips frames (the fill is measured on it). The header
    names both, so this comes first."""
    choose = options.base_size is None or options.base_step is None
    if not choose and (options.low_delay or options.base_step == 1 or options.skipped_fill is not None):
        return frames, options
    assert not choose or options.bitrate_kbps is not None, "EncodeOptions.resolved: only the rate leaves the layer open"
    first = list(itertools.islice(frames, options.max_keyframe_interval))
    frames = itertools.chain(first, frames)
    if not first:  # an empty input: the encoder reports it; any layer will do
        return frames, dataclasses.replace(options, base_size=options.base_size or 64, base_step=options.base_step or 1)
    keyframe_bytes = 0 if options.keyframes == NO_KEYFRAME else len(get_codec(options.keyframes).encode(first[0], 1))
    group = np.stack(first)

    scores: dict[bytes, float] = {}  # the chosen layer's blend is scored twice: choosing the layer, then the fill

    def upscaled_psnr(pictures: np.ndarray) -> float:
        key = hashlib.sha256(np.ascontiguousarray(pictures).tobytes()).digest()
        if key not in scores:
            scores[key] = float(psnr_per_frame(quick_upscale(pictures, group.shape[1]), group).mean())
        return scores[key]

    side, step = options.base_size, options.base_step
    if choose:
        assert options.bitrate_kbps is not None
        side, step = choose_layer(
            group,
            options.bitrate_kbps,
            fps,
            keyframe_bytes,
            options.low_delay,
            options.base_fill,
            upscaled_psnr,
            side=side,
            step=step,
        )
    assert side is not None and step is not None
    options = dataclasses.replace(options, base_size=side, base_step=step)
    if step > 1 and not options.low_delay:
        payload = first_group_base(group, options, fps, keyframe_bytes)
        fill = choose_fill(payload, len(group), step, upscaled_psnr, downscale(group, side), fps)
        options = dataclasses.replace(options, skipped_fill=fill)
    return frames, options


def quick_upscale(pictures: np.ndarray, size: int) -> np.ndarray:
    """(T, B, B, 3) uint8 -> (T, size, size, 3) uint8, bicubic in torch's uint8 path: what
    the encoder ranks layers and fills by. Within 0.004 dB PSNR of the float bicubic the
    decoder starts from (upsampled_frames; two dev clips, 64-128² layers at CRF 56, the same
    sign at every side) and 40 times as fast: the float one took 6 s of a 250-frame encode."""
    wide = torch.from_numpy(np.ascontiguousarray(pictures)).permute(0, 3, 1, 2)
    return F.interpolate(wide, size=(size, size), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).contiguous().numpy()


def first_group_base(group: np.ndarray, options: EncodeOptions, fps: float, keyframe_bytes: int) -> bytes:
    """The first group's base layer as the coding loop makes it: at the given CRF, or fitted
    to the first group's budget under --bitrate (with a keyframe picture, beside the
    smallest one, as the first pass counts it; fit_base remembers the first pass's fits, so
    the chosen layer is not coded again)."""
    assert options.base_size is not None and options.base_step is not None
    low = downscale(group[:: options.base_step], options.base_size)
    if options.bitrate_kbps is None:
        assert options.base_crf is not None
        return encode_base(low, options.base_crf, options.low_delay)
    return fit_base(low, first_pass_budget(group, options.bitrate_kbps, fps, keyframe_bytes), options.low_delay)[0]


# Bits a timed group's offsets are budgeted at, per frame between coded pictures: above the
# 2.6 they took on eight train clips (base_layer.TIMING_TABLE), so that a group rarely
# overshoots its budget by its offsets.
TIMING_BITS_ESTIMATE = 3.0


# A model that aligns a keyframe picture at full resolution (hybrid v2) gets one per group
# from this target rate up (kbps; None: never): below it the picture's bytes are worth more
# in the base layer. Measured on the dev clips (docs/BENCHMARKS.md, "Hybrid v2").
REFERENCE_PICTURE_FROM_KBPS: float | None = None


def settle_reference(options: EncodeOptions, loaded: LoadedModel) -> EncodeOptions:
    """`options` with the keyframe codec concrete, before the layer is chosen (the first pass
    counts the picture's bytes): as asked (--keyframe-codec); else a keyframe picture only for
    a model that aligns it at full resolution, at a --bitrate of REFERENCE_PICTURE_FROM_KBPS
    or more; else none (imf-hybrid-v1 draws 0.02–0.15 dB from the picture for about 1 kB a
    group: docs/BENCHMARKS.md)."""
    if options.keyframe_codec is not None:
        return options
    wants = (
        loaded.model.config.hybrid_reference == "flow"
        and options.bitrate_kbps is not None
        and REFERENCE_PICTURE_FROM_KBPS is not None
        and options.bitrate_kbps >= REFERENCE_PICTURE_FROM_KBPS
    )
    return dataclasses.replace(options, keyframe_codec=DEFAULT_KEYFRAME_CODEC if wants else NO_KEYFRAME)


def code_hybrid(
    frames: Iterator[np.ndarray],
    writer: Writer,
    loaded: LoadedModel,
    options: EncodeOptions,
    summary: EncodeSummary,
    report: Callable[[], None],
) -> None:
    """Code every frame of `frames` (S, S, 3) uint8 into `writer`'s groups; `options`
    resolved and its layer settled (settle_layer)."""
    model = loaded.model
    assert isinstance(model, HYBRID_MODELS) and options.base_size and options.base_step and options.quality
    side, step, quality = options.base_size, options.base_step, options.quality
    device = next(model.parameters()).device
    codec = None if options.keyframes == NO_KEYFRAME else get_codec(options.keyframes)

    def encode_keyframe(frame: np.ndarray, q: int) -> bytes:
        return b"" if codec is None else codec.encode(frame, q)

    timed = options.base_fill == "timed"

    def code_group(first: int, group: np.ndarray) -> None:
        truth = downscale(group if timed else group[::step], side)  # each frame on its own: [::step] is the layer's
        low = truth[::step] if timed else truth
        if options.bitrate_kbps is None:
            assert options.base_crf is not None
            keyframe = encode_keyframe(group[0], quality)
            base = encode_base(low, options.base_crf, options.low_delay)
        else:
            group_bytes = group_budget(options.bitrate_kbps, len(group), summary.fps, first=first == 0)
            if timed:  # the offsets' bytes come out of the group's budget
                group_bytes -= math.ceil(TIMING_BITS_ESTIMATE * filled_frames(len(group), step) / 8)
            keyframe, base = fit_group(lambda q: encode_keyframe(group[0], q), quality, low, group_bytes, options.low_delay)
        times = encode_offsets(choose_offsets(decode_base(base, len(low)), truth, step)) if timed else b""
        writer.write_group(GroupRecord(first, len(group), keyframe, times, base))
        summary.keyframes += 1
        summary.keyframe_positions.append(first)
        summary.keyframe_bytes += len(keyframe)
        summary.base_bytes += len(base)
        summary.token_bytes += len(times)
        if options.in_loop_psnr:  # the network's only use in the hybrid encoder: nothing coded depends on its output
            pictures = base_pictures(base, len(group), step, options.base_fill, times)
            key = None if codec is None else codec.decode(keyframe)
            decoded = decode_hybrid_group(model, key, pictures, HYBRID_BATCH, device, step, options.low_delay)
            summary.psnr_sum += float(psnr_per_frame(decoded, group).sum())

    pending: list[np.ndarray] = []
    for frame in frames:
        cut = bool(pending) and psnr_per_frame(pending[-1][None], frame[None])[0] < SCENE_CUT_PSNR
        if cut or len(pending) == options.max_keyframe_interval:
            code_group(summary.frames - len(pending), np.stack(pending))
            pending = []
            report()
        pending.append(frame)
        summary.frames += 1
    if pending:
        code_group(summary.frames - len(pending), np.stack(pending))
        report()
