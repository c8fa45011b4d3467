"""Intra codecs for keyframes, through PyAV.

Each codec turns one (S, S, 3) uint8 RGB frame into bytes and back. The colour
conversion on both sides is our own fixed-point code (color.py), and the decoders are
bit-exact by their standards (AV1 via dav1d, HEVC, WebP), so the decoded keyframe is the
same on every machine. The frames the network draws from it are not bit for bit: a float
sum's order, and so the last bit of a pixel, can change with the thread count, the batch
and the machine. It cannot drift: every frame is drawn from the keyframe and its own
integer token (or base picture), never from an earlier drawn frame (docs/ROBUSTNESS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from imfcodec.bitstream.header import NO_KEYFRAME as NO_KEYFRAME  # re-exported: the codec side names it from here

from ..errors import ImfcodecError
from ..quality import QUALITY_LEVELS, check_quality
from ..watchdog import call_with_time_limit
from .pictures import open_decoder, open_encoder, rgb_of, yuv_frame


class KeyframeCodecError(ImfcodecError):
    pass


KEYFRAME_TIME_LIMIT = 30.0  # seconds: a 256² intra picture takes about 0.05 s (measured)


@dataclass(frozen=True)
class KeyframeCodec:
    name: str  # as stored in the .imf header
    encoder: str  # PyAV encoder name
    decoder: str  # PyAV decoder name
    quality_option: str  # the option --quality maps to
    ladder: tuple[int, ...]  # option value for each --quality level
    options: tuple[tuple[str, str], ...] = ()
    worst: int = 0  # the option's value for the smallest picture: the rate control's floor

    @property
    def settings(self) -> tuple[int, ...]:
        """Every value of the quality option from `worst` to the ladder's best, worst first:
        what the token mode's rate control searches (a picture's bytes rise along it)."""
        best = self.ladder[-1]
        step = 1 if best > self.worst else -1
        return tuple(range(self.worst, best + step, step))

    def __post_init__(self) -> None:
        if len(self.ladder) != QUALITY_LEVELS:
            raise ValueError(f"{self.name}: the ladder needs one value per --quality level ({QUALITY_LEVELS})")

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """(S, S, 3) uint8 -> bytes of one intra-coded picture. The encoder library runs under
        a watchdog (imfcodec/watchdog.py): SVT-AV1 once hung at a flush like this one's."""
        check_quality(quality)
        return self.encode_setting(rgb, self.ladder[quality - 1])

    def encode_setting(self, rgb: np.ndarray, value: int) -> bytes:
        """As `encode`, at `value` of the codec's quality option (CRF, or WebP quality)."""
        return call_with_time_limit(lambda: self._encode(rgb, value), KEYFRAME_TIME_LIMIT, f"the {self.name} keyframe encode")

    def _encode(self, rgb: np.ndarray, value: int) -> bytes:
        """encode_setting's work, unguarded."""
        opts = dict(self.options)
        opts[self.quality_option] = str(value)
        ctx = open_encoder(self.encoder, rgb.shape[1], rgb.shape[0], opts)
        packets = list(ctx.encode(yuv_frame(rgb, 0))) + list(ctx.encode(None))
        payload = b"".join(bytes(p) for p in packets)
        if not payload:
            raise KeyframeCodecError(f"{self.name}: encoder produced no data")
        return payload

    def decode(self, payload: bytes) -> np.ndarray:
        """bytes -> (S, S, 3) uint8 RGB."""
        ctx = open_decoder(self.decoder)
        try:
            frames = list(ctx.decode(av.Packet(payload))) + list(ctx.decode(None))
        except av.FFmpegError as exc:
            raise KeyframeCodecError(f"{self.name}: cannot decode keyframe: {exc}") from None
        if not frames:
            raise KeyframeCodecError(f"{self.name}: keyframe decoded to no picture")
        return rgb_of(frames[0])


CODECS: dict[str, KeyframeCodec] = {
    "av1": KeyframeCodec(
        "av1",
        "libsvtav1",
        "libdav1d",
        "crf",
        (56, 50, 45, 40, 35, 30, 25, 20),
        (("preset", "6"), ("svtav1-params", "keyint=1")),
        63,
    ),
    "hevc": KeyframeCodec(
        "hevc",
        "libx265",
        "hevc",
        "crf",
        (42, 38, 34, 31, 28, 25, 22, 19),
        (("preset", "medium"), ("x265-params", "keyint=1:info=0:log-level=none")),
        51,
    ),
    "webp": KeyframeCodec("webp", "libwebp", "webp", "quality", (20, 35, 50, 62, 74, 84, 91, 96), (), 0),
}
DEFAULT_KEYFRAME_CODEC = "av1"
# What --keyframe-codec may name: a codec, or (hybrid mode) none, groups without a picture.
KEYFRAME_CHOICES = (*CODECS, NO_KEYFRAME)


def get_codec(name: str) -> KeyframeCodec:
    if name not in CODECS:
        raise KeyframeCodecError(f"unknown keyframe codec {name!r}; known: {sorted(CODECS)}")
    return CODECS[name]
