"""What an encode may be asked for, the one place that says which mode a file, model or
request is, and the rules that turn a request into concrete settings or a one-line error.

Two modes share the container (docs/FORMAT.md):
- **hybrid** (the default): every group's frames travel as a small AV1 base layer that a
  hybrid model restores. Two ways to set the base layer's quality:
  rate control, `--bitrate KBPS` (DEFAULT_BITRATE_KBPS when nothing is asked for): each
  group's CRF is chosen to land on the rate; `--base-size` and `--base-step`, when given,
  fix the layer's side and picture step and the first pass chooses the rest;
  constant quality, `--base-crf N` with `--base-size B` (`--base-step`, default 1): no rate.
  A keyframe picture per group only with `--keyframe-codec av1|hevc|webp`, whose quality
  `--quality` sets.
- **tokens** (`--base-size 0`, or a token model): a keyframe per group and one quantised
  token per frame. Rate control, `--bitrate KBPS` (DEFAULT_TOKEN_BITRATE_KBPS when nothing
  is asked for): the budget picks the token step, the keyframes' count and quality
  (tokens/rate_control.py); constant quality, `--quality N`: the token step and keyframe
  quality, no rate. `--refresh-psnr` starts a new keyframe where the in-loop PSNR drops
  below it (under a budget, when the budget affords one).

An option the chosen mode would ignore, or that another option overrides, is an error
naming the conflict: nothing is silently dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from imfcodec.bitstream.container import MAX_GROUP_FRAMES
from imfcodec.bitstream.header import NO_KEYFRAME

from ..errors import ImfcodecError
from ..model.config import IMFConfig
from ..quality import QUALITY_LEVELS
from ..rate import DEFAULT_BITRATE_KBPS, DEFAULT_TOKEN_BITRATE_KBPS
from .audio import DEFAULT_AUDIO_KBPS
from .video_io import SEQUENCE_FPS

HYBRID, TOKENS = "hybrid", "tokens"
DEFAULT_QUALITY = 3
DEFAULT_REFRESH_PSNR = 20.0  # dB
DEFAULT_BASE_CRF_STEP = 1  # a constant-quality base layer holds every frame unless --base-step says otherwise
BASE_SIZES = (64, 96, 128)
BASE_STEPS = tuple(range(1, 9))  # every n-th frame, up to the format's 8
KEYFRAME_CODECS = ("av1", "hevc", "webp")


class EncodeError(ImfcodecError):
    """An encode that cannot be done as asked."""


class OptionError(EncodeError):
    """A request the encoder cannot honour as asked: options that conflict or that the mode ignores."""


def is_hybrid(thing: Mapping[str, Any] | IMFConfig | Any) -> bool:
    """Whether a file header (it names a base layer), a model config or loaded model (its
    architecture) or EncodeOptions (its mode) is the hybrid mode's. The only such test."""
    if isinstance(thing, EncodeOptions):
        return thing.mode == HYBRID
    if isinstance(thing, Mapping):
        return thing.get("base_size") is not None
    config = thing if isinstance(thing, IMFConfig) else thing.model.config
    return bool(config.architecture == "hybrid")


@dataclass(frozen=True)
class EncodeOptions:
    """An encode request. None means "not asked for": `resolved` fills the mode's defaults
    and refuses what the mode would not use. After `resolved`, `mode` is set and every
    field the mode uses is concrete, except those the rate control chooses (base_crf under
    --bitrate; base_size and base_step where the first pass picks them)."""

    quality: int | None = None  # 1..8: token step and keyframe quality (hybrid: only with a keyframe picture)
    refresh_psnr: float | None = None  # dB, tokens only; 0: never refresh on quality
    max_keyframe_interval: int = 250
    crop: str = "center"  # center | pad
    audio: bool = True
    audio_bitrate_kbps: int = DEFAULT_AUDIO_KBPS
    keyframe_codec: str | None = None  # hybrid: none (default), av1, hevc, webp; tokens: av1 (default), hevc, webp
    max_frames: int | None = None
    sequence_fps: Fraction = SEQUENCE_FPS  # frame rate of an image-sequence input
    base_size: int | None = None  # hybrid: side of the base layer (64, 96, 128); 0: the token mode
    base_crf: int | None = None  # hybrid, constant quality: SVT-AV1 CRF of the base layer
    base_step: int | None = None  # hybrid: n, a base picture every n-th frame
    low_delay: bool = False  # hybrid: a base layer without B-frames (streaming)
    bitrate_kbps: float | None = None  # video rate to land on (audio apart), both modes
    mode: str | None = None  # set by `resolved`: HYBRID or TOKENS
    default_rate: bool = False  # set by `resolved`: bitrate_kbps is the mode's default, not asked for
    skipped_fill: str | None = None  # set by the first pass: "linear", "motion" or "timed" between coded base pictures
    in_loop_psnr: bool = True  # hybrid: run the network on each group to report its PSNR (--no-psnr: the encoder never does)

    @property
    def keyframes(self) -> str:
        """The keyframe codec this encode uses (NO_KEYFRAME: hybrid groups without a picture)."""
        if self.keyframe_codec is not None:
            return self.keyframe_codec
        return NO_KEYFRAME if self.mode == HYBRID else "av1"

    @property
    def base_fill(self) -> str:
        """How the decoder fills the frames a base layer skips: from both coded neighbours,
        blended or moved as the first pass measured (skipped_fill), except in low delay,
        where the next one is not there yet."""
        return "repeat" if self.low_delay else self.skipped_fill or "linear"

    @property
    def rate_controlled(self) -> bool:
        return self.bitrate_kbps is not None

    def resolved(self, hybrid_model: bool) -> EncodeOptions:
        """This request made concrete for a hybrid model or a token model, or an OptionError."""
        if self.mode is not None:
            return self
        _check_shared(self)
        if hybrid_model:
            return _resolve_hybrid(self)
        return _resolve_tokens(self)


def _check_shared(o: EncodeOptions) -> None:
    if o.crop not in ("center", "pad"):
        raise OptionError(f"--crop must be center or pad, got {o.crop!r}")
    if not 1 <= o.max_keyframe_interval <= MAX_GROUP_FRAMES:
        raise OptionError(f"--max-keyframe-interval must be in 1..{MAX_GROUP_FRAMES}, got {o.max_keyframe_interval}")
    if o.quality is not None and not 1 <= o.quality <= QUALITY_LEVELS:
        raise OptionError(f"--quality must be in 1..{QUALITY_LEVELS}, got {o.quality}")


def _given(o: EncodeOptions, *names: str) -> list[str]:
    """The command-line spelling of each hybrid-only option among `names` that was asked for."""
    flags = {"base_crf": "--base-crf", "base_step": "--base-step", "low_delay": "--low-delay", "bitrate_kbps": "--bitrate"}
    return [flags[n] for n in names if getattr(o, n) not in (None, False)]


def _resolve_tokens(o: EncodeOptions) -> EncodeOptions:
    if o.base_size not in (None, 0):
        raise OptionError(f"--base-size {o.base_size} needs a hybrid model (--model); a token model codes without a base layer")
    hybrid_only = _given(o, "base_crf", "base_step", "low_delay")
    if not o.in_loop_psnr:
        raise OptionError(
            "--no-psnr saves the hybrid encoder its decode; the token mode decodes every frame in the loop anyway "
            "(its keyframes are chosen from it), so its PSNR costs nothing"
        )
    if hybrid_only:
        raise OptionError(f"{', '.join(hybrid_only)}: the hybrid mode's base layer; this is the token mode, which has none")
    if o.bitrate_kbps is not None and o.quality is not None:
        raise OptionError("--quality fixes the token mode's quality and --bitrate chooses it: give one of them")
    if o.keyframe_codec is not None and o.keyframe_codec not in KEYFRAME_CODECS:
        raise OptionError(
            f"--keyframe-codec must be one of {', '.join(KEYFRAME_CODECS)} in the token mode"
            + (" (none needs the hybrid mode)" if o.keyframe_codec == NO_KEYFRAME else f", got {o.keyframe_codec}")
        )
    refresh = DEFAULT_REFRESH_PSNR if o.refresh_psnr is None else o.refresh_psnr
    if not 0 <= refresh < 100:
        raise OptionError(f"--refresh-psnr must be a PSNR in dB between 0 and 100 (0 disables), got {refresh}")
    if o.quality is not None:  # constant quality: no rate
        return dataclasses.replace(o, mode=TOKENS, base_size=0, refresh_psnr=refresh)
    rate = DEFAULT_TOKEN_BITRATE_KBPS if o.bitrate_kbps is None else o.bitrate_kbps
    if not rate > 0:
        raise OptionError(f"--bitrate must be above 0 kbps, got {rate:g}")
    # The token quality is chosen from the clip by the rate control (tokens/encode.settle_tokens).
    return dataclasses.replace(o, mode=TOKENS, base_size=0, bitrate_kbps=rate, refresh_psnr=refresh, default_rate=o.bitrate_kbps is None)


def _resolve_hybrid(o: EncodeOptions) -> EncodeOptions:
    if o.base_size == 0:
        raise OptionError("--base-size 0 is the token mode: it needs a token model (leave out --model, or name one)")
    if o.refresh_psnr is not None:
        raise OptionError("--refresh-psnr steers the token mode's keyframes: the hybrid mode has none to refresh (its groups end at cuts)")
    if o.keyframe_codec is not None and o.keyframe_codec not in (*KEYFRAME_CODECS, NO_KEYFRAME):
        raise OptionError(f"--keyframe-codec must be one of {', '.join((NO_KEYFRAME, *KEYFRAME_CODECS))}, got {o.keyframe_codec}")
    keyframes = o.keyframe_codec or NO_KEYFRAME
    if o.quality is not None and keyframes == NO_KEYFRAME:
        raise OptionError("--quality sets a keyframe picture's quality: the hybrid sends none unless --keyframe-codec av1|hevc|webp")
    if o.base_size is not None and o.base_size not in BASE_SIZES:
        raise OptionError(f"--base-size must be 0 (tokens only) or one of {', '.join(map(str, BASE_SIZES))}, got {o.base_size}")
    if o.base_step is not None and o.base_step not in BASE_STEPS:
        raise OptionError(f"--base-step must be 1 (every frame) to {BASE_STEPS[-1]} (every {BASE_STEPS[-1]}th frame), got {o.base_step}")
    quality = DEFAULT_QUALITY if o.quality is None else o.quality
    if o.base_crf is not None:
        if o.bitrate_kbps is not None:
            raise OptionError("--base-crf fixes the base layer's quality and --bitrate chooses it per group: give one of them")
        if o.base_size is None:
            raise OptionError(
                f"--base-crf needs --base-size 64|96|128: a constant-quality base layer has a fixed side "
                f"(without both, the encoder codes at --bitrate {DEFAULT_BITRATE_KBPS:g}, which chooses the CRF)"
            )
        if not 1 <= o.base_crf <= 63:
            raise OptionError(f"--base-crf must be in 1..63, got {o.base_crf}")
        step = DEFAULT_BASE_CRF_STEP if o.base_step is None else o.base_step
        return dataclasses.replace(o, mode=HYBRID, quality=quality, base_step=step, refresh_psnr=None)
    rate = DEFAULT_BITRATE_KBPS if o.bitrate_kbps is None else o.bitrate_kbps
    if not rate > 0:
        raise OptionError(f"--bitrate must be above 0 kbps, got {rate:g}")
    return dataclasses.replace(o, mode=HYBRID, quality=quality, bitrate_kbps=rate, refresh_psnr=None, default_rate=o.bitrate_kbps is None)
