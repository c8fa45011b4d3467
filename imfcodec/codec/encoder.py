"""Video -> .imf, for both modes: the request resolved (options.py), the input probed and
read, the header written, the groups coded by the mode's own loop (hybrid/encode.py or
tokens/encode.py), the audio appended, and the file closed whole or not at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from imfcodec.bitstream.container import Writer

from ..model.weights import LoadedModel
from ..quality import quality_step
from .audio import encode_audio
from .batching import MODEL_BATCH as MODEL_BATCH  # re-exported: the encoder's fixed batch
from .hybrid.encode import code_hybrid, settle_layer, settle_reference
from .keyframes import NO_KEYFRAME
from .options import EncodeError as EncodeError  # re-exported
from .options import EncodeOptions as EncodeOptions  # re-exported: what encode_video takes
from .options import OptionError, is_hybrid
from .summary import EncodeSummary as EncodeSummary  # re-exported: what encode_video returns
from .tokens.encode import code_tokens, settle_tokens
from .video_io import VideoInputError, crop_box, iter_frames, probe

TOKEN_HEAD_BYTES = 260  # a token file's bytes before its first group (preamble and HEAD), measured


def header_for(loaded: LoadedModel, options: EncodeOptions, width: int, height: int, fps: Fraction, audio: bool) -> dict[str, Any]:
    """The HEAD of a file coded with `options` (resolved, layer settled): each mode writes
    only the fields it uses (docs/FORMAT.md)."""
    config = loaded.model.config
    x, y, w, h = crop_box(width, height) if options.crop == "center" else (0, 0, width, height)
    header: dict[str, Any] = {
        "model_id": loaded.model_id,
        "preset": config.preset,
        "token_dim": config.token_dim,
        "size": config.size,
        "keyframe_codec": options.keyframes,
        "source_width": width,
        "source_height": height,
        "crop": options.crop,
        "crop_box": [x, y, w, h],
        "fps_num": fps.numerator,
        "fps_den": fps.denominator,
        "max_keyframe_interval": options.max_keyframe_interval,
        "audio_codec": "opus" if audio else None,
    }
    assert options.quality is not None
    if is_hybrid(options):
        header |= {"base_size": options.base_size, "base_crf": options.base_crf, "base_low_delay": options.low_delay}
        header |= {"base_step": options.base_step}
        if options.base_step and options.base_step > 1:
            header["base_fill"] = options.base_fill
        if options.keyframes != NO_KEYFRAME:
            header["quality"] = options.quality  # the keyframe pictures' (the most a rate-controlled group uses)
        return header
    return header | {
        "quality": options.quality,
        "token_step": quality_step(options.quality),
        "table_index": options.quality - 1,
        "refresh_psnr": options.refresh_psnr or None,
    }


def encode_video(
    source: str | Path,
    output: str | Path,
    loaded: LoadedModel,
    options: EncodeOptions = EncodeOptions(),
    on_progress: Callable[[int, int | None], None] | None = None,
) -> EncodeSummary:
    """Encode `source` into `output` (.imf) with `loaded`'s mode. Raises an ImfcodecError
    with a one-line message; an interrupted encode leaves no file."""
    if Path(output).resolve() == Path(source).resolve():
        raise EncodeError(f"{output} is the input: writing there would replace the video being read; choose another path")
    started = time.time()  # the speed counts the first pass too: it is most of a short hybrid encode
    hybrid = is_hybrid(loaded)
    options = options.resolved(hybrid)
    if not hybrid and loaded.tables is None:
        raise EncodeError(f"{loaded.path}: model has no entropy tables; freeze the training run with `imfcodec export`")
    if not hybrid and loaded.tables is not None and options.quality is not None and options.quality > loaded.tables.shape[0]:
        raise OptionError(f"--quality must be in 1..{loaded.tables.shape[0]} for this model, got {options.quality}")
    info = probe(source, options.sequence_fps)
    frames = iter_frames(
        source, size=loaded.model.config.size, crop=options.crop, max_frames=options.max_frames, sequence_fps=options.sequence_fps
    )
    if hybrid:
        options = settle_reference(options, loaded)
        frames, options = settle_layer(frames, options, float(info.fps))
    total_hint = info.frames if options.max_frames is None else min(info.frames or options.max_frames, options.max_frames)
    rate = None
    if not hybrid:
        frames, options, rate = settle_tokens(frames, options, loaded, float(info.fps), total_hint, TOKEN_HEAD_BYTES)
    summary = EncodeSummary(fps=float(info.fps), keyframe_codec=options.keyframes, psnr_measured=options.in_loop_psnr)
    audio = None
    if options.audio and info.has_audio:
        audio = encode_audio(source, options.audio_bitrate_kbps, length_s=lambda: summary.frames / float(info.fps))
    writer = Writer(output, header_for(loaded, options, info.width, info.height, info.fps, audio is not None))

    def report() -> None:
        if on_progress:
            on_progress(summary.frames, total_hint)

    try:
        if hybrid:
            code_hybrid(frames, writer, loaded, options, summary, report)
        else:
            code_tokens(frames, writer, loaded, options, summary, report, rate)
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
