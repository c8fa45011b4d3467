"""The hybrid mode's base layer: every p-th frame of a group (p = the header's base_step),
downscaled to B×B and coded by SVT-AV1 as one closed GOP, so that each group decodes on its
own; the frames between get a picture by repetition or the integer blend (fill_skipped).

The payload is the encoder's packets in decode order, each prefixed by its length
(docs/FORMAT.md, GRUP in 1.1). Decoding is dav1d's, bit-exact by the AV1 standard, and the
colour conversion is the project's fixed-point one: encoder and decoder see the same base
frames on every machine (the encoder decodes its own payload: closed loop).
"""

from __future__ import annotations

import functools
import math

import av
import numpy as np

from imfcodec.bitstream import entropy
from imfcodec.bitstream.container import FormatError
from imfcodec.bitstream.varint import VarintError, decode_varint, encode_varint

from ...errors import ImfcodecError
from ...watchdog import call_all_with_time_limit, call_with_time_limit
from ..options import BASE_SIZES as BASE_SIZES  # re-exported: the layer's shapes live with the options
from ..options import BASE_STEPS as BASE_STEPS
from ..pictures import open_decoder, open_encoder, resize_frames, rgb_of, yuv_frame
from .motion_fill import MAX_OFFSET, filled_frames, motion_fill

# Every temporal unit SVT-AV1 emits starts with this 2-byte OBU. The payload's own length
# prefixes already delimit temporal units, so it is dropped (as MP4 and Matroska do): 250 of
# a 96² half-rate base's 6,400 bytes over 250 frames. dav1d decodes either form identically,
# so files written with it still decode.
TEMPORAL_DELIMITER = b"\x12\x00"
MAX_BASE_FRAMES = 1 << 16  # frames in one group's base stream: far above any keyframe interval
ENCODER_PRESET = (
    4  # SVT-AV1 speed preset, as the anchors: against preset 8, -1.5 % base rate and +0.37 dB on the dev clips (96², CRF 55, low delay)
)


class BaseLayerError(ImfcodecError):
    pass


def downscale(frames: np.ndarray, side: int) -> np.ndarray:
    """(T, S, S, 3) uint8 -> (T, side, side, 3) uint8, area average (what a camera's
    binning does; measured against bicubic in docs/TRAINING.md)."""
    return resize_frames(frames, side, "AREA")


def base_time_limit(frames: int) -> float:
    """Seconds a base layer encode of `frames` pictures may take before it counts as hung:
    about 20 times the slowest measured (128², CRF 30: 1.6 s for 250 pictures on one core)."""
    return 15.0 + 0.2 * frames


def encode_base(frames: np.ndarray, crf: float, low_delay: bool = False) -> bytes:
    """(T, B, B, 3) uint8 base frames -> one closed GOP of AV1 (bytes). `crf`: SVT-AV1's,
    1..63, in quarter steps (the rate control's last refinement; the command line's is whole).

    low_delay: no frame is coded after a later one (pred-struct=1), for streaming; the
    default is SVT-AV1's random-access structure, which compresses better. The encode
    runs under a watchdog (imfcodec/watchdog.py): SVT-AV1 once hung at its flush, and the
    same encode again gives the same bytes.
    """
    _check_crf(crf)
    t, h, w, _ = frames.shape
    what = f"the base layer's AV1 encode ({t} pictures of {w}x{h}, CRF {crf})"
    return call_with_time_limit(lambda: _encode_base(frames, crf, low_delay), base_time_limit(t), what)


def encode_bases(jobs: list[tuple[np.ndarray, float, bool]], workers: int) -> list[bytes]:
    """[encode_base(*job) for job in jobs], `workers` encodes at once, each in its own forked
    child under the same watchdog: the same bytes (SVT-AV1 codes each on one thread, so one
    encode leaves the other cores idle)."""
    if len(jobs) <= 1 or workers <= 1:
        return [encode_base(*job) for job in jobs]
    for _, crf, _ in jobs:
        _check_crf(crf)
    limit = base_time_limit(max(len(frames) for frames, _, _ in jobs))
    fns = [functools.partial(_encode_base, *job) for job in jobs]
    return call_all_with_time_limit(fns, limit, f"the base layer's AV1 encodes ({len(jobs)} side by side)", workers)


def _check_crf(crf: float) -> None:
    """SVT-AV1's CRFs: 1..63 in quarter steps."""
    if not 1 <= crf <= 63 or crf * 4 != int(crf * 4):
        raise BaseLayerError(f"--base-crf must be in 1..63, got {crf}")


def _encode_base(frames: np.ndarray, crf: float, low_delay: bool) -> bytes:
    """encode_base's work, unguarded. A fractional CRF goes to SVT-AV1 itself (its quarter
    steps: at 128², 20 pictures, CRF 60 is 1,761 bytes, 60.5 1,691, 61 1,580); ffmpeg's own
    option takes whole numbers only, and gets the next one up, which an SVT-AV1 without
    quarter steps would code instead (never more bytes than asked)."""
    t, h, w, _ = frames.shape
    params = "keyint=-1:scd=0" + (":pred-struct=1" if low_delay else "") + ("" if crf == int(crf) else f":crf={crf:g}")
    options = {"crf": str(math.ceil(crf)), "preset": str(ENCODER_PRESET), "svtav1-params": params}
    ctx = open_encoder("libsvtav1", w, h, options)
    packets: list[bytes] = []
    for i, rgb in enumerate(frames):
        packets += [bytes(p) for p in ctx.encode(yuv_frame(rgb, i))]
    packets += [bytes(p) for p in ctx.encode(None)]
    if not packets:
        raise BaseLayerError("SVT-AV1 produced no data for the base layer")
    packets = [p.removeprefix(TEMPORAL_DELIMITER) for p in packets]
    return encode_varint(len(packets)) + b"".join(encode_varint(len(p)) + p for p in packets)


def split_packets(payload: bytes) -> list[bytes]:
    """The length-prefixed packets of a base payload; a count or length that runs past the
    payload is a BaseLayerError, found before anything is allocated for it."""
    try:
        count, pos = decode_varint(payload, 0)
        if count > min(MAX_BASE_FRAMES, len(payload)):
            raise BaseLayerError(f"base layer claims {count} packets in {len(payload)} bytes")
        packets = []
        for _ in range(count):
            n, pos = decode_varint(payload, pos)
            if pos + n > len(payload):
                raise BaseLayerError("base layer packet runs past its group")
            packets.append(payload[pos : pos + n])
            pos += n
    except VarintError as exc:
        raise BaseLayerError(f"base layer: {exc}") from None
    if pos != len(payload):
        raise BaseLayerError("base layer has bytes after its last packet")
    return packets


def decode_base(payload: bytes, frames: int) -> np.ndarray:
    """Base payload -> (frames, B, B, 3) uint8, in display order (dav1d, fixed-point RGB)."""
    ctx = open_decoder("libdav1d")
    out: list[np.ndarray] = []
    try:
        for data in split_packets(payload):
            for frame in ctx.decode(av.Packet(data)):
                out.append(rgb_of(frame))
        for frame in ctx.decode(None):
            out.append(rgb_of(frame))
    except av.FFmpegError as exc:
        raise BaseLayerError(f"cannot decode the base layer: {exc}") from None
    if len(out) != frames:
        raise BaseLayerError(f"base layer holds {len(out)} frames, its group {frames}")
    if len({f.shape for f in out}) > 1:
        raise BaseLayerError(f"base layer changes picture size mid-group ({sorted({f.shape[:2] for f in out})})")
    return np.stack(out)


BASE_FILLS = ("repeat", "linear", "motion", "timed")


def fill_skipped(coded: np.ndarray, frame_count: int, step: int, fill: str = "repeat", offsets: np.ndarray | None = None) -> np.ndarray:
    """(K, B, B, 3) uint8 pictures of every `step`-th frame -> (frame_count, B, B, 3): a
    picture per frame. "repeat" shows each coded picture `step` times; "linear" blends the
    two coded neighbours of a skipped frame by its distance to them, in integers (round half
    up), so encoder and decoder compute the same bytes; "motion" moves them along the motion
    between them instead (motion_fill.py); "timed" too, each frame at its time moved by its
    entry of `offsets` (filled_frames(frame_count, step),) in eighths. A skipped frame after
    the last coded picture repeats it. All but "repeat" need the next coded picture before a
    skipped frame can be shown: the low-delay structure repeats instead."""
    if fill not in BASE_FILLS:
        raise BaseLayerError(f"unknown base fill {fill!r}; expected one of {BASE_FILLS}")
    if (fill == "timed") != (offsets is not None):
        raise ValueError("time offsets go with the timed fill, and only with it")
    if fill in ("motion", "timed"):
        return motion_fill(coded, frame_count, step, offsets)
    out = np.repeat(coded, step, axis=0)[:frame_count]
    if fill == "linear" and step > 1:
        wide = coded.astype(np.int32)
        for j in range(1, step):
            frames = np.arange(j, frame_count, step)
            k = frames // step
            inside = k + 1 < len(coded)
            k = k[inside]
            out[frames[inside]] = (((step - j) * wide[k] + j * wide[k + 1] + step // 2) // step).astype(np.uint8)
    return out


# The timed fill's offsets travel in the group's token stream (GRUP `tokens`, format 1.4),
# range-coded with this fixed table: the integer frequencies (summing to 2^16) of a discrete
# Laplace of scale 1 over -8..8, then the escape, which a valid stream never uses. Fitted on
# the offsets the encoder chose on eight train clips (128², every 3rd-5th picture, CRF
# 55-60; 1,043 offsets, mean |offset| 1.05): 2.59 bits an offset, their own entropy 2.58.
TIMING_TABLE = np.array([[12, 32, 85, 231, 626, 1700, 4621, 12560, 25788, 12560, 4621, 1700, 626, 231, 85, 32, 12, 14]], np.int32)


def encode_offsets(offsets: np.ndarray) -> bytes:
    """A group's time offsets (n,) int in -MAX_OFFSET..MAX_OFFSET -> its token stream."""
    values = np.asarray(offsets, np.int64)
    if values.size and np.abs(values).max() > MAX_OFFSET:
        raise ValueError(f"time offsets run -{MAX_OFFSET}..{MAX_OFFSET}")
    return entropy.encode(values.reshape(-1, 1), TIMING_TABLE) if values.size else b""


def decode_offsets(data: bytes, frame_count: int, step: int) -> np.ndarray:
    """A timed group's token stream -> its offsets (filled_frames(frame_count, step),) int64;
    a stream that does not hold them is a BaseLayerError."""
    count = filled_frames(frame_count, step)
    if count == 0:
        if data:
            raise BaseLayerError("a group without frames between coded pictures carries time offsets")
        return np.zeros(0, np.int64)
    try:
        values = entropy.decode(data, count, TIMING_TABLE)[:, 0]
    except FormatError as exc:
        raise BaseLayerError(f"time offsets: {exc}") from None
    if np.abs(values).max() > MAX_OFFSET:
        raise BaseLayerError(f"time offsets outside -{MAX_OFFSET}..{MAX_OFFSET}")
    return values


def base_pictures(payload: bytes, frame_count: int, step: int = 1, fill: str = "repeat", times: bytes = b"") -> np.ndarray:
    """A group's base picture for each of its `frame_count` frames, (frame_count, B, B, 3):
    with `step` 2 the layer holds every second frame and the others are filled (fill_skipped;
    `times`: the group's token stream, the timed fill's offsets)."""
    coded = -(-frame_count // step)
    offsets = decode_offsets(times, frame_count, step) if fill == "timed" else None
    return fill_skipped(decode_base(payload, coded), frame_count, step, fill, offsets)
