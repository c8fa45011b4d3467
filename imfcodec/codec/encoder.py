"""Video -> .imf: keyframe groups decided in a closed loop.

For each group the encoder codes the keyframe, decodes it exactly as the decoder will,
builds the reference from that decoded picture, and then codes every following frame as a
quantised token residual. It decodes each frame in the loop and starts a new keyframe when
the reconstruction's PSNR against the source falls below --refresh-psnr, at a scene cut,
or when the group reaches --max-keyframe-interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from imfcodec.bitstream import entropy
from imfcodec.bitstream.container import GroupRecord, Writer

from ..errors import ImfcodecError
from ..frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from ..model.prior import QUALITY_STEPS, quality_step
from ..model.weights import LoadedModel
from .keyframes import DEFAULT_KEYFRAME_CODEC, get_codec
from .tokens import quantize_tokens
from .video_io import SEQUENCE_FPS, VideoInputError, crop_box, iter_frames, probe

SCENE_CUT_PSNR = 14.0  # dB between consecutive source frames


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
    keyframe_codec: str = DEFAULT_KEYFRAME_CODEC
    batch_size: int = 16
    max_frames: int | None = None
    sequence_fps: Fraction = SEQUENCE_FPS  # frame rate of an image-sequence input


@dataclass
class EncodeSummary:
    frames: int = 0
    keyframes: int = 0
    keyframe_positions: list[int] = field(default_factory=list)
    fps: float = 0.0
    bytes_total: int = 0
    psnr_sum: float = 0.0
    seconds: float = 0.0

    @property
    def mean_psnr(self) -> float:
        """Mean PSNR-RGB (dB) of the in-loop reconstruction against the resized source."""
        return self.psnr_sum / max(1, self.frames)


class _Group:
    """The keyframe group being built: its reference, last decoded token and residual rows."""

    def __init__(self, first_frame: int, keyframe: bytes, decoded: np.ndarray, state, token: np.ndarray) -> None:
        self.first_frame = first_frame
        self.keyframe = keyframe
        self.decoded = decoded
        self.state = state
        self.last_token = token
        self.residuals: list[np.ndarray] = []

    @property
    def frame_count(self) -> int:
        return 1 + len(self.residuals)


def header_for(loaded: LoadedModel, options: EncodeOptions, width: int, height: int, fps: Fraction, audio: bool) -> dict:
    config = loaded.model.config
    x, y, w, h = crop_box(width, height) if options.crop == "center" else (0, 0, width, height)
    return {
        "model_id": loaded.model_id,
        "preset": config.preset,
        "token_dim": config.token_dim,
        "size": config.size,
        "quality": options.quality,
        "token_step": quality_step(options.quality),
        "table_index": options.quality - 1,
        "keyframe_codec": options.keyframe_codec,
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
    """Encode `source` into `output` (.imf). Raises VideoInputError/EncodeError with a one-line message."""
    if loaded.tables is None:
        raise EncodeError(f"{loaded.path}: model has no entropy tables; export it with `imfcodec train --export`")
    if not 1 <= options.quality <= min(len(QUALITY_STEPS), loaded.tables.shape[0]):
        raise EncodeError(f"--quality must be in 1..{len(QUALITY_STEPS)}")
    if not 1 <= options.max_keyframe_interval:
        raise EncodeError("--max-keyframe-interval must be at least 1")
    info = probe(source, options.sequence_fps)
    model = loaded.model
    device = next(model.parameters()).device
    size = model.config.size
    table = loaded.tables[options.quality - 1]
    step = quality_step(options.quality)
    codec = get_codec(options.keyframe_codec)
    summary = EncodeSummary(fps=float(info.fps))
    started = time.time()
    audio = None
    if options.audio and info.has_audio:
        from .audio import encode_audio

        audio = encode_audio(source, options.audio_bitrate_kbps)
    header = header_for(loaded, options, info.width, info.height, info.fps, audio is not None)
    total_hint = info.frames if options.max_frames is None else min(info.frames or options.max_frames, options.max_frames)

    writer = Writer(output, header)
    try:
        group: _Group | None = None
        prev_source: np.ndarray | None = None

        def start_group(index: int, frame: np.ndarray) -> _Group:
            payload = codec.encode(frame, options.quality)
            decoded = codec.decode(payload)
            with torch.no_grad():
                state = model.prepare_reference(frames_to_tensor(decoded[None], device))
            summary.keyframes += 1
            summary.keyframe_positions.append(index)
            summary.psnr_sum += float(psnr_per_frame(decoded[None], frame[None])[0])
            return _Group(index, payload, decoded, state, state.token[0].double().cpu().numpy())

        def finish_group(g: _Group) -> None:
            rows = np.stack(g.residuals) if g.residuals else np.zeros((0, table.shape[0]), dtype=np.int64)
            tokens = entropy.encode(rows, table) if len(rows) else b""
            writer.write_group(GroupRecord(g.first_frame, g.frame_count, g.keyframe, tokens))

        index = 0
        for batch in _batches(
            iter_frames(source, size=size, crop=options.crop, max_frames=options.max_frames, sequence_fps=options.sequence_fps),
            options.batch_size,
        ):
            with torch.no_grad():
                tokens = model.encode_tokens(frames_to_tensor(batch, device)).double().cpu().numpy()
            pos = 0
            while pos < len(batch):
                frame = batch[pos]
                cut = prev_source is not None and psnr_per_frame(prev_source[None], frame[None])[0] < SCENE_CUT_PSNR
                if group is None or cut or group.frame_count >= options.max_keyframe_interval:
                    if group is not None:
                        finish_group(group)
                    group = start_group(index + pos, frame)
                    prev_source = frame
                    pos += 1
                    continue
                # Code the rest of this batch against the group, then check it in the loop.
                room = options.max_keyframe_interval - group.frame_count
                span = batch[pos : pos + room]
                q, decoded_tokens = quantize_tokens(tokens[pos : pos + len(span)], group.last_token, step)
                with torch.no_grad():
                    recon = tensor_to_frames(model.decode(group.state, torch.from_numpy(decoded_tokens).float().to(device)))
                psnr = psnr_per_frame(recon, span)
                consecutive = psnr_per_frame(np.concatenate([prev_source[None], span[:-1]]), span)
                bad = (consecutive < SCENE_CUT_PSNR) | (psnr < options.refresh_psnr if options.refresh_psnr is not None else False)
                accept = int(np.argmax(bad)) if bad.any() else len(span)
                group.residuals.extend(q[:accept])
                if accept:
                    group.last_token = decoded_tokens[accept - 1]
                    summary.psnr_sum += float(psnr[:accept].sum())
                    prev_source = span[accept - 1]
                pos += accept
                if accept < len(span):  # the next frame needs a new keyframe
                    finish_group(group)
                    group = start_group(index + pos, batch[pos])
                    prev_source = batch[pos]
                    pos += 1
            index += len(batch)
            summary.frames = index
            if on_progress:
                on_progress(index, total_hint)
        if group is None:
            raise VideoInputError(f"{source}: the video has no frames")
        finish_group(group)
        if audio is not None:
            meta, batches = audio
            writer.write_audio_header(meta)
            limit = index / float(info.fps)
            for packets in batches:
                packets = [p for p in packets if p[0] / meta["sample_rate"] < limit + 0.1]
                if packets:
                    writer.write_audio_packets(packets)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.bytes_total = Path(output).stat().st_size
    summary.seconds = time.time() - started
    return summary


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
