"""--quality: one number, 1 (smallest) .. 8 (best), that sets both the token's quantisation
step and the keyframe codec's quality. Torch-free."""

from __future__ import annotations

from .errors import ConfigError

# Quantisation step of the token (unit variance per entry) for --quality 1..8.
QUALITY_STEPS: tuple[float, ...] = (0.5, 0.35, 0.25, 0.18, 0.125, 0.09, 0.0625, 0.044)
QUALITY_LEVELS = len(QUALITY_STEPS)


def check_quality(quality: int, levels: int = QUALITY_LEVELS) -> int:
    """`quality` if it is in 1..levels (a model may carry tables for fewer levels)."""
    if not 1 <= quality <= levels:
        raise ConfigError(f"--quality must be in 1..{levels}, got {quality}")
    return quality


def quality_step(quality: int) -> float:
    """The token's quantisation step for `quality`, in token units."""
    return QUALITY_STEPS[check_quality(quality) - 1]
