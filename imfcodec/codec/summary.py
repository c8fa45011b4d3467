"""What an encode produced, in both modes: frames, groups, the in-loop PSNR, bytes per part."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..rate import kbps

SCENE_CUT_PSNR = 14.0  # dB between consecutive source frames: a new group starts there, in both modes


@dataclass
class EncodeSummary:
    """`keyframes` counts groups (each starts at a keyframe picture, or in a hybrid file
    without keyframe pictures at a group boundary); `keyframe_positions` their first frames."""

    frames: int = 0
    keyframes: int = 0
    keyframe_positions: list[int] = field(default_factory=list)
    fps: float = 0.0
    psnr_sum: float = 0.0
    psnr_measured: bool = True  # False: --no-psnr, the hybrid encoder ran no decode
    seconds: float = 0.0
    keyframe_bytes: int = 0
    base_bytes: int = 0
    token_bytes: int = 0
    audio_bytes: int = 0  # chunk framing included, as `imfcodec info` counts it
    bytes_total: int = 0
    keyframe_codec: str = ""  # as settled by the encoder (the file's HEAD `k`)

    @property
    def groups(self) -> int:
        return self.keyframes

    @property
    def mean_psnr(self) -> float:
        """Mean PSNR-RGB (dB) of the in-loop reconstruction against the resized source; NaN
        where it was not measured (--no-psnr)."""
        return self.psnr_sum / max(1, self.frames) if self.psnr_measured else float("nan")

    def kbps(self) -> dict[str, float]:
        """Rate per part of the file, kbps: total = keyframes + base + tokens + audio + overhead."""
        parts = {"keyframes": self.keyframe_bytes, "base": self.base_bytes, "tokens": self.token_bytes, "audio": self.audio_bytes}
        parts["overhead"] = self.bytes_total - sum(parts.values())
        return {"total": kbps(self.bytes_total, self.frames, self.fps)} | {k: kbps(v, self.frames, self.fps) for k, v in parts.items()}
