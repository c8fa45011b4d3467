""".imf -> frames, for both modes: the file read and checked against its model, the frames
asked for found group by group (each group decodes on its own: hybrid/decode.py or
tokens/decode.py), damaged groups concealed on request, and the output written whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from imfcodec.bitstream.container import GroupRecord, ImfFile, Reader

from ..atomic import atomic_path
from ..errors import ImfcodecError
from ..model.weights import LoadedModel
from .batching import HYBRID_BATCH, TOKEN_DECODE_BATCH
from .hybrid.decode import hybrid_group_frames
from .keyframes import NO_KEYFRAME, get_codec
from .options import is_hybrid
from .tokens.decode import token_group_frames
from .video_io import VideoWriter


class DecodeError(ImfcodecError):
    pass


@dataclass(frozen=True)
class DecodeOptions:
    start_frame: int = 0
    frames: int | None = None  # None: to the end
    batch_size: int | None = None  # frames per model call; None: the mode's own (batching.py)


def read_imf(path: str | Path, resilient: bool = False) -> ImfFile:
    """The file's chunks, checked; `resilient`: damaged chunks skipped and listed in .damage."""
    return Reader(path, resilient=resilient).read_all()


def check_model(imf: ImfFile, loaded: LoadedModel) -> None:
    want = imf.header.get("model_id")
    if not isinstance(want, str) or not loaded.decodes(want):
        raise DecodeError(f"model mismatch: the file needs model {want}, the loaded model is {loaded.model_id}")
    h, config = imf.header, loaded.model.config
    if h["size"] != config.size:
        raise DecodeError(f"the file codes {h['size']}² frames, its model {config.size}²")
    if not is_hybrid(h):
        if loaded.tables is None:
            raise DecodeError(f"{loaded.path}: model has no entropy tables")
        if not (isinstance(h.get("table_index"), int) and h["table_index"] < loaded.tables.shape[0] and h.get("token_step")):
            raise DecodeError(f"the file's token table {h.get('table_index')!r} or step {h.get('token_step')!r} is not one its model has")


def frame_range(imf: ImfFile, options: DecodeOptions) -> tuple[int, int]:
    """The frames options ask for, as [start, end) within the file."""
    if not 0 <= options.start_frame < imf.frame_count:
        raise DecodeError(f"--start-frame {options.start_frame} outside 0..{imf.frame_count - 1}")
    end = imf.frame_count if options.frames is None else min(imf.frame_count, options.start_frame + options.frames)
    return options.start_frame, end


def iter_decoded_frames(
    imf: ImfFile, loaded: LoadedModel, options: DecodeOptions = DecodeOptions(), conceal: Callable[[str], None] | None = None
) -> Iterator[np.ndarray]:
    """Yield (S, S, 3) uint8 frames from options.start_frame, options.frames of them.

    `conceal` (with a file read resiliently): frames of a missing or undecodable group are
    replaced by the last good frame (mid-grey before the first one), and each such span is
    reported through it; without it, the first error is raised."""
    check_model(imf, loaded)
    start, end = frame_range(imf, options)
    size = int(imf.header["size"])
    last = np.full((size, size, 3), 128, np.uint8)
    pos = start
    for group, lo, hi in _spans(imf, start, end):
        try:
            if group is None:
                raise DecodeError("its group is missing from the file")
            for frame in _group_frames(imf, group, loaded, lo, hi, options.batch_size):
                yield frame
                last, pos = frame, pos + 1
        except ImfcodecError as exc:
            if conceal is None:
                raise
            conceal(f"frames {pos}-{hi - 1} concealed (repeating the last good frame): {exc}")
            for _ in range(pos, hi):
                yield last
            pos = hi


def _spans(imf: ImfFile, start: int, end: int) -> Iterator[tuple[GroupRecord | None, int, int]]:
    """(group or None for a gap, first frame, end frame) covering [start, end), in order."""
    pos = start
    for group in imf.groups:
        g_lo, g_hi = group.first_frame, group.first_frame + group.frame_count
        if g_hi <= pos:
            continue
        if g_lo >= end:
            break
        if g_lo > pos:
            yield None, pos, g_lo
            pos = g_lo
        yield group, pos, min(end, g_hi)
        pos = min(end, g_hi)
    if pos < end:
        yield None, pos, end


def _group_frames(imf: ImfFile, group: GroupRecord, loaded: LoadedModel, lo: int, hi: int, batch_size: int | None) -> Iterator[np.ndarray]:
    """Frames lo..hi-1 (file frame numbers) of one group."""
    size = int(imf.header["size"])
    key: np.ndarray | None = None
    if imf.header["keyframe_codec"] == NO_KEYFRAME:  # a 1.2 hybrid group: the reference is its first base picture
        if group.keyframe:
            raise DecodeError(f"the group at frame {group.first_frame} has a keyframe picture where the file says it has none")
    else:
        key = get_codec(imf.header["keyframe_codec"]).decode(group.keyframe)
    if key is not None and key.shape != (size, size, 3):  # a valid picture of the wrong size: a damaged or forged file
        raise DecodeError(f"the keyframe of the group at frame {group.first_frame} is {key.shape[1]}x{key.shape[0]}, not {size}x{size}")
    hybrid = is_hybrid(imf.header)
    frames_of = hybrid_group_frames if hybrid else token_group_frames
    batch = batch_size or (HYBRID_BATCH if hybrid else TOKEN_DECODE_BATCH)
    yield from frames_of(imf, group, key, loaded, lo - group.first_frame, hi - group.first_frame, batch)


def decode_file(
    source: str | Path,
    output: str | Path,
    loaded: LoadedModel,
    options: DecodeOptions = DecodeOptions(),
    imf: ImfFile | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    conceal: Callable[[str], None] | None = None,
) -> int:
    """Decode `source` to `output` (.mp4/.mkv/.y4m or a folder of PNGs). Returns frames written.
    The output appears whole or not at all (imfcodec.atomic); a folder with files in it is refused."""
    imf = imf or read_imf(source)
    check_model(imf, loaded)
    output = Path(output)
    if not output.parent.is_dir():
        raise DecodeError(f"{output.parent}: output folder does not exist")
    fps = Fraction(imf.header["fps_num"], imf.header["fps_den"])
    size = int(imf.header["size"])
    start, end = frame_range(imf, options)
    total = end - start
    audio = (imf.audio_header, imf.audio_packets) if imf.audio_header is not None and imf.audio_packets else None
    # The audio that goes with the decoded frames, whatever part of the file they are.
    window = (start / float(fps), end / float(fps))
    if output.is_dir() and any(output.iterdir()):
        raise DecodeError(f"{output}: a folder with files in it is in the way; choose another name")
    count = 0
    # An empty folder of that name is replaced; anything else the user has is never touched.
    with atomic_path(output, folder=not output.suffix, replace_folder=True) as tmp:
        writer = VideoWriter(tmp, fps, size, size, audio=audio, suffix=output.suffix, audio_window=window)
        try:
            for frame in iter_decoded_frames(imf, loaded, options, conceal):
                writer.write(frame)
                count += 1
                if on_progress:
                    on_progress(count, total)
            writer.close()
        except BaseException:
            writer.close_quietly()
            raise
    return count
