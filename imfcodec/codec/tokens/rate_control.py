"""--bitrate for the token mode: a budget over the file for keyframe pictures and tokens.

The file's video bytes (container framing included, audio not: as ffmpeg keeps -b:v and
-b:a apart) are held to `target kbps × duration`. Three choices spend it:

1. **The token's quantisation** (the file's one `quality`), once, from the first frames'
   tokens entropy-coded at every level: the finest whose tokens take at most TOKEN_SHARE
   of the rate. Tokens are a steady cost; what is left pays keyframes.
2. **How many keyframes**: as many as the rest of the budget buys at the keyframe codec's
   default quality (measured on the first frame), within one per `--max-keyframe-interval`
   frames and one per MIN_GROUP_SECONDS. That sets the planned group length: a low rate
   gets one keyframe a file at a low quality, a high rate a keyframe every second or two.
3. **Each keyframe's quality**, when it is coded: the best codec setting (CRF, or WebP
   quality; a keyframe picture describes itself, so any setting decodes) whose picture fits
   the keyframe's share of what remains: (budget − bytes written − tokens still to come) /
   keyframes still planned. The last keyframe spends what the earlier ones saved or overspent,
   so the file lands on the target within the error of the token forecast.

A keyframe is started early where the in-loop PSNR drops below `--refresh-psnr` (the
frames where a keyframe helps most), but only after MIN_GROUP_SECONDS and only if the
remaining budget affords one; at a scene cut whenever it affords one; otherwise the group
runs on. The first frame and `--max-keyframe-interval` always start a keyframe, at the
worst setting if nothing fits: the one place the rate may be exceeded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from imfcodec.bitstream import entropy

from ...quality import quality_step
from ..keyframes import KeyframeCodec
from ..options import DEFAULT_QUALITY, EncodeError
from .quantize import quantize_tokens

RATE_TOLERANCE = 0.15  # the rate control's promise: within this share of the target (dev clips, 1.5-8 kbps)
TOKEN_SHARE = 0.5  # the most of the target the tokens may take: the rest must buy keyframes
MIN_GROUP_SECONDS = 1.0  # no keyframe refresh on quality sooner than this after the last
# Container bytes outside the payloads (measured on token files): a group's GRUP framing
# and index entry, and once a file the preamble, the index's framing and the footer.
GROUP_FRAMING_BYTES = 24
CLOSE_BYTES = 40


class BudgetTooSmall(EncodeError):
    """--bitrate below what one keyframe picture and the tokens need."""


@dataclass(frozen=True)
class TokenPlan:
    quality: int  # the token's quantisation level (the file's HEAD `q`)
    token_bytes_per_frame: float  # forecast, entropy-coded
    group_frames: int  # planned frames a keyframe


def token_bytes_per_frame(tokens: np.ndarray, table: np.ndarray, quality: int) -> float:
    """Entropy-coded bytes a frame of `tokens` (T, D) costs at `quality`, DPCM from the first."""
    if len(tokens) < 2:
        return 0.0
    q, _ = quantize_tokens(tokens[1:], tokens[0], quality_step(quality))
    return len(entropy.encode(q, table)) / (len(tokens) - 1)


class TokenRateControl:
    """The budget of one token-mode encode. `total_frames`: the input's frame count if known
    (else the budget is planned one `max_interval` at a time); `header_bytes`: bytes the
    file holds before its first group."""

    def __init__(
        self,
        target_kbps: float,
        fps: float,
        total_frames: int | None,
        max_interval: int,
        codec: KeyframeCodec,
        header_bytes: int,
        strict: bool = True,
    ) -> None:
        self.bytes_per_frame = target_kbps * 1000 / 8 / fps
        self.target_kbps = target_kbps
        self.fps = fps
        self.known_total = total_frames
        self.max_interval = max_interval
        self.codec = codec
        self.header_bytes = header_bytes
        self.strict = strict  # an asked-for rate that cannot be met is an error; the default rate does its best
        self.min_group = max(1, round(MIN_GROUP_SECONDS * fps))
        self.plan: TokenPlan | None = None
        self.token_bytes = 0  # written so far, and the frames they cover
        self.token_frames = 0
        self.lookahead_tokens = np.zeros((0, 0))  # (T, D): the planned frames' tokens, for the coding loop to reuse

    def total(self, frame: int) -> int:
        """Frames the budget is planned over, as seen at `frame`: the input's length, or where
        it is unknown (or overrun) one more planned group: the budget then accrues as the
        frames arrive, a leaky bucket, and no more is spent than the frames so far earned."""
        if self.known_total is not None and self.known_total > frame:
            return self.known_total
        return frame + (self.plan.group_frames if self.plan is not None else self.max_interval)

    def start(self, tokens: np.ndarray, tables: np.ndarray, first_frame: np.ndarray) -> TokenPlan:
        """Choose the token quality and the group length from the first frames' `tokens`
        (T, D) and the first frame (S, S, 3). One keyframe at the worst setting that overshoots
        the target by more than RATE_TOLERANCE is BudgetTooSmall when the rate was asked for;
        at the default rate (a clip too short for it) the file gets that one keyframe at the
        worst setting."""
        levels = tables.shape[0]
        costs = {q: token_bytes_per_frame(tokens, tables[q - 1], q) for q in range(1, levels + 1)}
        share = TOKEN_SHARE * self.bytes_per_frame
        quality = max([q for q in costs if costs[q] <= share], default=1)
        total = self.total(0)
        keyframe_budget = (self.bytes_per_frame - costs[quality]) * total - self.header_bytes - CLOSE_BYTES
        smallest = len(self.codec.encode_setting(first_frame, self.codec.settings[0]))
        need = (smallest + GROUP_FRAMING_BYTES + self.header_bytes + CLOSE_BYTES + costs[1] * total) * 8 * self.fps / total / 1000
        if need > self.target_kbps * (1 + RATE_TOLERANCE) and self.strict:  # within the tolerance: the worst setting lands in it
            raise BudgetTooSmall(
                f"--bitrate {self.target_kbps:g} is too small for this clip: one keyframe at the lowest quality and the tokens "
                f"need {need:.2f} kbps over its {total / self.fps:.1f} s"
            )
        typical = len(self.codec.encode(first_frame, DEFAULT_QUALITY)) + GROUP_FRAMING_BYTES
        fewest = math.ceil(total / self.max_interval)
        most = max(fewest, math.ceil(total / self.min_group))
        count = min(most, max(fewest, int(keyframe_budget // typical), 1))
        self.plan = TokenPlan(quality, costs[quality], max(1, math.ceil(total / count)))
        return self.plan

    def record_tokens(self, nbytes: int, frames: int) -> None:
        """A finished group's token bytes and its frames that carry a token."""
        self.token_bytes += nbytes
        self.token_frames += frames

    def forecast_token_bytes(self) -> float:
        """Bytes a token costs from here: the plan's forecast until a group has measured it."""
        assert self.plan is not None
        if self.token_frames < self.min_group:
            return self.plan.token_bytes_per_frame
        return self.token_bytes / self.token_frames

    def allowance(self, frame: int, written: int) -> float:
        """Bytes the keyframe starting at `frame` may take, `written` bytes into the file."""
        assert self.plan is not None
        total = self.total(frame)
        left = total - frame
        keyframes = max(1, round(left / self.plan.group_frames))
        rest = self.bytes_per_frame * total - written - CLOSE_BYTES - self.forecast_token_bytes() * (left - 1)
        return rest / keyframes - GROUP_FRAMING_BYTES

    def keyframe(self, frame_rgb: np.ndarray, frame: int, written: int, forced: bool) -> bytes | None:
        """The keyframe picture for `frame_rgb` at the best setting that fits its allowance;
        if none fits: at the worst setting when `forced`, else None (the group runs on)."""
        return fit_picture(lambda s: self.codec.encode_setting(frame_rgb, s), self.codec.settings, self.allowance(frame, written), forced)


def fit_picture(encode: Callable[[int], bytes], settings: tuple[int, ...], budget: float, forced: bool) -> bytes | None:
    """The picture `encode(setting)` at the last (best) of `settings` (worst first) whose bytes
    fit `budget`, by bisection (a picture's bytes rise with the setting); the worst when none
    fits and `forced`, else None."""
    worst = encode(settings[0])
    if len(worst) > budget:
        return worst if forced else None
    lo, hi, best = 0, len(settings) - 1, worst  # settings[lo] fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        payload = encode(settings[mid])
        if len(payload) <= budget:
            lo, best = mid, payload
        else:
            hi = mid - 1
    return best
