"""Video -> .imf: keyframe groups decided in a closed loop.

For each group the encoder codes the keyframe, decodes it exactly as the decoder will,
builds the reference from that decoded picture, and then codes every following frame as a
quantised token residual. It decodes each frame in the loop and starts a new keyframe when
the reconstruction's PSNR against the source falls below --refresh-psnr, at a scene cut,
or when the group reaches --max-keyframe-interval.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imfcodec.bitstream import entropy
from imfcodec.bitstream.container import MAX_GROUP_FRAMES, GroupRecord, Writer

from ..errors import ImfcodecError
from ..frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from ..model.hybrid import HybridIMF
from ..model.imf import IMF, ReferenceState
from ..model.weights import LoadedModel
from ..quality import QUALITY_LEVELS, check_quality, quality_step
from ..rate import kbps
from .audio import encode_audio
from .base_layer import BASE_SIZES, BASE_STEPS, base_pictures, downscale, encode_base
from .hybrid_decoding import decode_hybrid_group, upsampled_frames
from .keyframes import CODECS, DEFAULT_KEYFRAME_CODEC, KEYFRAME_CHOICES, NO_KEYFRAME, get_codec
from .rate_control import base_side_for, base_step_for, best_layer, fit_group, group_budget
from .tokens import quantize_tokens
from .video_io import SEQUENCE_FPS, VideoInputError, crop_box, iter_frames, probe

SCENE_CUT_PSNR = 14.0  # dB between consecutive source frames
# Frames per model call in the encoder, fixed (no option): the same input gives the same
# file whatever the caller's batch size (see _in_fixed_batches).
MODEL_BATCH = 16


class EncodeError(ImfcodecError):
    pass


@dataclass(frozen=True)
class EncodeOptions:
    quality: int = 3  # 1..8: token step and keyframe quality
    max_keyframe_interval: int = 250
    refresh_psnr: float | None = 20.0  # dB; None: never refresh on quality
    crop: str = "center"  # center | pad
    audio: bool = True
    audio_bitrate_kbps: int = 16
    keyframe_codec: str | None = None  # None: the mode's default (tokens: av1; hybrid: none, no keyframe picture)
    max_frames: int | None = None
    sequence_fps: Fraction = SEQUENCE_FPS  # frame rate of an image-sequence input
    base_size: int = 0  # hybrid mode: side of the base layer (64, 96, 128); 0: tokens only
    base_crf: int = 50  # SVT-AV1 CRF of the base layer
    low_delay: bool = False  # base layer without B-frames (streaming)
    base_step: int = 1  # n: the base layer holds every n-th frame (1/n of its frame rate)
    bitrate_kbps: float | None = None  # hybrid mode: video rate to land on; sets the base CRF per group

    @property
    def keyframes(self) -> str:
        """The keyframe codec this encode uses: the hybrid's groups carry no keyframe picture
        by default, because with imf-hybrid-v1 the picture buys 0.02–0.15 dB for about 1 kB a
        group (docs/BENCHMARKS.md); the token mode cannot do without one."""
        if self.keyframe_codec is not None:
            return self.keyframe_codec
        return NO_KEYFRAME if self.base_size > 0 or self.bitrate_kbps is not None else DEFAULT_KEYFRAME_CODEC

    @property
    def base_fill(self) -> str:
        """How the decoder fills the frames a base layer skips: blended from both coded
        neighbours, except in low delay, where the next one is not there yet."""
        return "repeat" if self.low_delay else "linear"


@dataclass
class EncodeSummary:
    """What an encode produced: frames, keyframes, the in-loop PSNR and the bytes per part."""

    frames: int = 0
    keyframes: int = 0
    keyframe_positions: list[int] = field(default_factory=list)
    fps: float = 0.0
    psnr_sum: float = 0.0
    seconds: float = 0.0
    keyframe_bytes: int = 0
    base_bytes: int = 0
    token_bytes: int = 0
    audio_bytes: int = 0  # chunk framing included, as `imfcodec info` counts it
    bytes_total: int = 0

    @property
    def mean_psnr(self) -> float:
        """Mean PSNR-RGB (dB) of the in-loop reconstruction against the resized source."""
        return self.psnr_sum / max(1, self.frames)

    def kbps(self) -> dict[str, float]:
        """Rate per part of the file, kbps: total = keyframes + base + tokens + audio + overhead."""
        parts = {"keyframes": self.keyframe_bytes, "base": self.base_bytes, "tokens": self.token_bytes, "audio": self.audio_bytes}
        parts["overhead"] = self.bytes_total - sum(parts.values())
        return {"total": kbps(self.bytes_total, self.frames, self.fps)} | {k: kbps(v, self.frames, self.fps) for k, v in parts.items()}


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


def header_for(loaded: LoadedModel, options: EncodeOptions, width: int, height: int, fps: Fraction, audio: bool) -> dict[str, Any]:
    config = loaded.model.config
    x, y, w, h = crop_box(width, height) if options.crop == "center" else (0, 0, width, height)
    hybrid = options.base_size > 0
    crf = None if options.bitrate_kbps is not None else options.base_crf  # nil: chosen per group
    base: dict[str, Any] = {}
    if hybrid:
        base = {"base_size": options.base_size, "base_crf": crf, "base_low_delay": options.low_delay, "base_step": options.base_step}
        if options.base_step > 1:
            base["base_fill"] = options.base_fill
    return base | {
        "model_id": loaded.model_id,
        "preset": config.preset,
        "token_dim": config.token_dim,
        "size": config.size,
        "quality": options.quality,
        "token_step": None if hybrid else quality_step(options.quality),
        "table_index": options.quality - 1,
        "keyframe_codec": options.keyframes,
        "source_width": width,
        "source_height": height,
        "crop": options.crop,
        "crop_box": [x, y, w, h],
        "fps_num": fps.numerator,
        "fps_den": fps.denominator,
        "max_keyframe_interval": options.max_keyframe_interval,
        "refresh_psnr": options.refresh_psnr,
        "audio_codec": "opus" if audio else None,
    }


def encode_video(
    source: str | Path,
    output: str | Path,
    loaded: LoadedModel,
    options: EncodeOptions = EncodeOptions(),
    on_progress: Callable[[int, int | None], None] | None = None,
) -> EncodeSummary:
    """Encode `source` into `output` (.imf). Raises an ImfcodecError with a one-line message.

    One pass, each decision made once: read → crop/resize → tokens (ET, in batches) →
    quantise against the group's last decoded token → decode in the loop → accept the frame
    into its group, or end the group (scene cut, PSNR below --refresh-psnr, group full) and
    code the frame as the next keyframe → write. Audio follows, trimmed to the video.
    """
    if Path(output).resolve() == Path(source).resolve():
        raise EncodeError(f"{output} is the input: writing there would replace the video being read; choose another path")
    hybrid = loaded.model.config.architecture == "hybrid"
    step_from_rate = False  # the base layer's step follows the clip's frame rate, known after probing (below)
    if options.bitrate_kbps is not None:
        if not hybrid:
            raise EncodeError("--bitrate needs the hybrid mode: a hybrid model (--model)")
        if not options.bitrate_kbps > 0:
            raise EncodeError(f"--bitrate must be above 0 kbps, got {options.bitrate_kbps}")
        if options.base_size == 0:
            options = dataclasses.replace(options, base_size=base_side_for(options.bitrate_kbps))
            step_from_rate = True
    if hybrid != (options.base_size > 0):
        raise EncodeError(
            f"{loaded.path.name} is a {'hybrid' if hybrid else 'token'} model: "
            + ("give it --base-size 64, 96 or 128" if hybrid else "--base-size needs a hybrid model (--model)")
        )
    if options.base_step not in BASE_STEPS:
        raise EncodeError(
            f"--base-step must be 1 (every frame) to {BASE_STEPS[-1]} (every {BASE_STEPS[-1]}th frame), got {options.base_step}"
        )
    if options.keyframes not in KEYFRAME_CHOICES or (options.keyframes == NO_KEYFRAME and not hybrid):
        choices = ", ".join(KEYFRAME_CHOICES if hybrid else CODECS)
        raise EncodeError(
            f"--keyframe-codec must be one of {choices}{'' if hybrid else ' (none needs the hybrid mode)'}, got {options.keyframes}"
        )
    if hybrid and options.base_size not in BASE_SIZES:
        raise EncodeError(f"--base-size must be 0 (tokens only) or one of {', '.join(map(str, BASE_SIZES))}, got {options.base_size}")
    if not hybrid and loaded.tables is None:
        raise EncodeError(f"{loaded.path}: model has no entropy tables; freeze the training run with `imfcodec export`")
    check_quality(options.quality, QUALITY_LEVELS if loaded.tables is None else loaded.tables.shape[0])
    if options.refresh_psnr is not None and not 0 < options.refresh_psnr < 100:
        raise EncodeError(f"--refresh-psnr must be a PSNR in dB between 0 and 100 (0 disables), got {options.refresh_psnr}")
    if not 1 <= options.max_keyframe_interval <= MAX_GROUP_FRAMES:
        raise EncodeError(f"--max-keyframe-interval must be in 1..{MAX_GROUP_FRAMES}")
    info = probe(source, options.sequence_fps)
    frames = iter_frames(
        source, size=loaded.model.config.size, crop=options.crop, max_frames=options.max_frames, sequence_fps=options.sequence_fps
    )
    if step_from_rate and options.bitrate_kbps is not None:
        # The first group's frames, read ahead: whether the layer the rate asks for can get
        # that low at all on this clip. The header names the layer, so this comes first.
        first = list(itertools.islice(frames, options.max_keyframe_interval))
        frames = itertools.chain(first, frames)
        side, step = options.base_size, base_step_for(options.bitrate_kbps, float(info.fps))
        if first:
            keyframe_bytes = 0 if options.keyframes == NO_KEYFRAME else len(get_codec(options.keyframes).encode(first[0], 1))
            group = np.stack(first)

            def upscaled_psnr(pictures: np.ndarray) -> float:
                return float(psnr_per_frame(upsampled_frames(pictures, group.shape[1]), group).mean())

            side, step = best_layer(
                group,
                options.bitrate_kbps,
                float(info.fps),
                side,
                step,
                keyframe_bytes,
                options.low_delay,
                options.base_fill,
                upscaled_psnr,
            )
        options = dataclasses.replace(options, base_size=side, base_step=step)
    summary = EncodeSummary(fps=float(info.fps))
    started = time.time()
    total_hint = info.frames if options.max_frames is None else min(info.frames or options.max_frames, options.max_frames)
    audio = None
    if options.audio and info.has_audio:
        audio = encode_audio(source, options.audio_bitrate_kbps, length_s=lambda: summary.frames / float(info.fps))
    writer = Writer(output, header_for(loaded, options, info.width, info.height, info.fps, audio is not None))

    def report() -> None:
        if on_progress:
            on_progress(summary.frames, total_hint)

    try:
        (_code_hybrid if hybrid else _code_tokens)(frames, writer, loaded, options, summary, report)
        if summary.frames == 0:
            raise VideoInputError(f"{source}: the video has no frames")
        if audio is not None:
            meta, batches = audio
            summary.audio_bytes += writer.write_audio_header(meta)
            for packets in batches:
                if packets:
                    summary.audio_bytes += writer.write_audio_packets(packets)
        summary.bytes_total = writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.time() - started
    return summary


def _code_tokens(
    frames: Iterator[np.ndarray],
    writer: Writer,
    loaded: LoadedModel,
    options: EncodeOptions,
    summary: EncodeSummary,
    report: Callable[[], None],
) -> None:
    """The token mode: a keyframe per group, a quantised token per frame, decided in the loop."""
    model = loaded.model
    assert isinstance(model, IMF) and loaded.tables is not None
    device = next(model.parameters()).device
    table = loaded.tables[options.quality - 1]
    step = quality_step(options.quality)
    codec = get_codec(options.keyframes)

    def start_group(index: int, frame: np.ndarray) -> _Group:
        payload = codec.encode(frame, options.quality)
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
                _in_fixed_batches(lambda t: model.decode(g.state, t), torch.from_numpy(decoded_tokens).float().to(device))
            )
        psnr = psnr_per_frame(recon, frames)
        cut = psnr_per_frame(np.concatenate([previous[None], frames[:-1]]), frames) < SCENE_CUT_PSNR
        bad = cut | (psnr < options.refresh_psnr) if options.refresh_psnr is not None else cut
        accept = int(np.argmax(bad)) if bad.any() else len(frames)
        if accept:
            g.residuals.extend(q[:accept])
            g.last_token = decoded_tokens[accept - 1]
            summary.psnr_sum += float(psnr[:accept].sum())
        return accept

    group: _Group | None = None
    previous: np.ndarray | None = None  # the last source frame coded
    for batch in _batches(frames, MODEL_BATCH):
        with torch.no_grad():
            tokens = _in_fixed_batches(model.encode_tokens, frames_to_tensor(batch, device)).double().cpu().numpy()
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


def _code_hybrid(
    frames: Iterator[np.ndarray],
    writer: Writer,
    loaded: LoadedModel,
    options: EncodeOptions,
    summary: EncodeSummary,
    report: Callable[[], None],
) -> None:
    """The hybrid mode: groups end at a scene cut or --max-keyframe-interval; each carries its
    keyframe and its frames' base layer. The in-loop PSNR is the decoder's own output."""
    model = loaded.model
    assert isinstance(model, HybridIMF)
    device = next(model.parameters()).device
    codec = None if options.keyframes == NO_KEYFRAME else get_codec(options.keyframes)

    def encode_keyframe(frame: np.ndarray, quality: int) -> bytes:
        return b"" if codec is None else codec.encode(frame, quality)

    def code_group(first: int, group: np.ndarray) -> None:
        low = downscale(group[:: options.base_step], options.base_size)
        if options.bitrate_kbps is None:
            keyframe = encode_keyframe(group[0], options.quality)
            base = encode_base(low, options.base_crf, options.low_delay)
        else:
            group_bytes = group_budget(options.bitrate_kbps, len(group), summary.fps, first=first == 0)
            keyframe, base = fit_group(lambda q: encode_keyframe(group[0], q), options.quality, low, group_bytes, options.low_delay)
        pictures = base_pictures(base, len(group), options.base_step, options.base_fill)
        decoded = decode_hybrid_group(model, None if codec is None else codec.decode(keyframe), pictures, MODEL_BATCH, device)
        writer.write_group(GroupRecord(first, len(group), keyframe, b"", base))
        summary.keyframes += 1
        summary.keyframe_positions.append(first)
        summary.keyframe_bytes += len(keyframe)
        summary.base_bytes += len(base)
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


def _in_fixed_batches(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """fn over `x` (N, ...) with N <= MODEL_BATCH, run on exactly MODEL_BATCH rows (the last
    row repeated): CPU kernels pick their algorithm, and so their rounding, by the batch's
    shape, and a token that rounds differently changes the file. Returns fn's first N rows."""
    n = x.shape[0]
    assert n <= MODEL_BATCH
    padded = torch.cat([x, x[-1:].expand(MODEL_BATCH - n, *x.shape[1:])]) if n < MODEL_BATCH else x
    return fn(padded)[:n]


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
