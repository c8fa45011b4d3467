"""Model configuration: one frozen dataclass and the named presets.

Scales are indexed 0..3 and sit at 1/4, 1/8, 1/16 and 1/32 of the input side
(64², 32², 16², 8² at a 256² input), as in the paper.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigError

NUM_SCALES = 4

C = TypeVar("C", bound="JsonConfig")


class JsonConfig:
    """JSON round trip for frozen config dataclasses (lists come back as tuples; unknown
    fields are an error, so a typo in a config file does not pass silently)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**{k: _tuples(v) for k, v in data.items()})


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples a frozen config holds, nested ones included."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


HYBRID_REFERENCES = ("attend", "warp", "none", "flow")
FLOW_PRESETS = ("medium", "fast")  # OpenCV DIS presets hybrid v2 may name


@dataclass(frozen=True)
class IMFConfig(JsonConfig):
    """Everything needed to build an IMF model; stored as JSON beside its weights."""

    preset: str
    size: int = 256
    token_dim: int = 32  # d_m
    # EF: dense feature channels per scale (1/4, 1/8, 1/16, 1/32).
    feature_channels: tuple[int, int, int, int] = (128, 256, 512, 512)
    # Extra same-resolution residual blocks per scale in EF and DF.
    extra_blocks: int = 2
    # ET: channels of the strided conv stack that ends in the token.
    token_encoder_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
    # IMFD: width of the modulated-conv trunk per scale and of its style MLP.
    motion_channels: tuple[int, int, int, int] = (256, 512, 512, 512)
    style_dim: int = 512
    # IMFA: which scales align the reference by attention, query/key width,
    # and the transformer blocks after the cross-attention at each scale.
    attention_scales: tuple[int, ...] = (0, 1, 2, 3)
    key_dim: int = 128
    transformer_blocks: tuple[int, int, int, int] = (4, 4, 4, 4)
    heads: int = 8
    ffn_mult: int = 4
    # DF: decoder width per scale.
    decoder_channels: tuple[int, int, int, int] = (256, 512, 512, 512)
    # Identity path: warp the keyframe's pixels by the attention's expected
    # position and let DF add a zero-initialised correction (see motion.py).
    identity_path: bool = False
    # With the identity path, DF's correction is scaled by 1 - exp(-(|t - t_ref| / g)²),
    # g = correction_gate (token units; 0: no gate, as in imf-small-v1). Equal tokens then
    # give the keyframe back exactly: a static scene decodes to its keyframe instead of a
    # re-sharpened copy. The quantisation error alone is 0.3 token units at --quality 4
    # (median on the dev clips), where the gate is fully open for g = 0.1.
    correction_gate: float = 0.0
    # Initial softmax temperature of the alignment attention (cosine logits).
    attention_temperature: float = 20.0
    # imf: frames from tokens (IMF); hybrid: frames from a low-resolution base layer
    # restored with the keyframe (model/hybrid.py).
    architecture: str = "imf"
    # How a hybrid model uses its keyframe: "attend" (IMFA aligns the keyframe's features to
    # the frame), "warp" (as attend, and the finest attended scale's attention also gives a
    # flow that warps the keyframe's pixels into DF's input), or "none" (super-resolution of
    # the base alone: the ablation that measures what the keyframe is worth).
    hybrid_reference: str = "attend"
    # A hybrid that also codes a per-frame token (ET of the frame, its difference from the
    # keyframe's token quantised with step hybrid_token_step, token units) and lets it scale
    # and shift ES's features at every scale (zero-initialised: it starts as the model
    # without one). 0: no token, as in imf-hybrid-v1. The ablation of docs/TRAINING.md.
    hybrid_token_step: float = 0.0
    # hybrid_reference "flow" (hybrid v2, model/flow_hybrid.py): the refiner's width and
    # residual blocks, at 1/refiner_scale of the frame's side.
    refiner_channels: int = 64
    refiner_blocks: int = 6
    # The refiner works at 1/refiner_scale of the side (pixel-unshuffled): 2, or 4 (a 64²
    # grid for 256², as efficient super-resolution networks work at the low resolution).
    refiner_scale: int = 2
    # Hybrid v2 only: how many neighbouring base pictures each frame also sees, aligned by
    # flow (0: none, as imf-hybrid-v3; 2: the coded pictures before and after the frame,
    # codec/hybrid/decode.py's neighbour_positions; with --low-delay the later one is the
    # frame's own picture).
    neighbour_pictures: int = 0
    # Hybrid v2 only: False gives the refiner the reference unwarped (and u_ref − u_t for
    # the mismatch): the ablation of the full-resolution alignment (docs/TRAINING.md).
    align_reference: bool = True
    # Hybrid v2 only: OpenCV DIS's preset for the reference's flow at the frame's side:
    # "medium" (imf-hybrid-v2 to v4) or "fast", about a quarter of its time (docs/BENCHMARKS.md).
    flow_preset: str = "medium"

    def __post_init__(self) -> None:
        if self.size % 32:
            raise ConfigError(f"size must be a multiple of 32, got {self.size}")
        if not self.attention_scales or any(s not in range(NUM_SCALES) for s in self.attention_scales):
            raise ConfigError(f"attention_scales must be a non-empty subset of 0..3, got {self.attention_scales}")
        if tuple(sorted(set(self.attention_scales))) != tuple(self.attention_scales):
            raise ConfigError("attention_scales must be sorted and unique")
        if self.architecture not in ("imf", "hybrid"):
            raise ConfigError(f"architecture must be imf or hybrid, got {self.architecture!r}")
        if self.hybrid_reference not in HYBRID_REFERENCES:
            raise ConfigError(f"hybrid_reference must be one of {HYBRID_REFERENCES}, got {self.hybrid_reference!r}")
        if self.hybrid_token_step < 0 or (self.hybrid_token_step and self.architecture != "hybrid"):
            raise ConfigError("hybrid_token_step must be >= 0, and only a hybrid model has one")
        if self.neighbour_pictures not in (0, 2) or (self.neighbour_pictures and self.hybrid_reference != "flow"):
            raise ConfigError(f"neighbour_pictures must be 0 or 2 (2 only with hybrid_reference flow), got {self.neighbour_pictures}")
        if not self.align_reference and self.hybrid_reference != "flow":
            raise ConfigError("align_reference false is hybrid_reference flow's ablation; other models align their own way")
        if self.flow_preset not in FLOW_PRESETS:
            raise ConfigError(f"flow_preset must be one of {FLOW_PRESETS}, got {self.flow_preset!r}")
        if self.refiner_scale not in (2, 4):
            raise ConfigError(f"refiner_scale must be 2 or 4, got {self.refiner_scale}")
        if self.correction_gate < 0:
            raise ConfigError(f"correction_gate must be >= 0, got {self.correction_gate}")

    @property
    def finest_attention_scale(self) -> int:
        return self.attention_scales[0]

    def resolution(self, scale: int) -> int:
        """Side length in pixels of the feature grid at `scale`."""
        return self.size // (4 * 2**scale)


PRESETS: dict[str, IMFConfig] = {
    # The paper's widths: about 160 M parameters.
    "paper": IMFConfig(preset="paper"),
    # CPU-sized: attention only at 1/8..1/32 where the grids are small; the 1/4
    # scale contributes reference features but is not attended.
    "small": IMFConfig(
        preset="small",
        feature_channels=(32, 64, 128, 192),
        extra_blocks=0,
        token_encoder_channels=(16, 32, 64, 128, 192, 256),
        motion_channels=(32, 64, 128, 192),
        style_dim=256,
        attention_scales=(1, 2, 3),
        key_dim=32,
        transformer_blocks=(0, 0, 1, 2),
        heads=4,
        ffn_mult=2,
        decoder_channels=(32, 64, 128, 192),
        identity_path=True,
        correction_gate=0.1,
    ),
    # For tests: seconds per forward, not quality.
    "tiny": IMFConfig(
        preset="tiny",
        token_dim=16,
        feature_channels=(8, 16, 16, 16),
        extra_blocks=0,
        token_encoder_channels=(8, 8, 16, 16, 16, 16),
        motion_channels=(8, 16, 16, 16),
        style_dim=32,
        attention_scales=(1, 2, 3),
        key_dim=8,
        transformer_blocks=(0, 0, 1, 1),
        heads=2,
        ffn_mult=2,
        decoder_channels=(8, 16, 16, 16),
        identity_path=True,
        correction_gate=0.1,
    ),
}


def _hybrid(base: IMFConfig, name: str) -> IMFConfig:
    """A token preset's widths for the hybrid (model/hybrid.py): ES's features are IMFA's
    queries, so the motion widths are the feature widths; one transformer block at 1/16 and
    1/32; no correction gate (there is no token to gate on)."""
    return dataclasses.replace(
        base,
        preset=name,
        motion_channels=base.feature_channels,
        transformer_blocks=(0, 0, 1, 1),
        correction_gate=0.0,
        architecture="hybrid",
    )


PRESETS["hybrid-small"] = _hybrid(PRESETS["small"], "hybrid-small")
PRESETS["hybrid-tiny"] = _hybrid(PRESETS["tiny"], "hybrid-tiny")
# Hybrid v2: the reference aligned at full resolution by dense flow, a small refiner.
PRESETS["hybrid-flow"] = dataclasses.replace(PRESETS["hybrid-tiny"], preset="hybrid-flow", hybrid_reference="flow")
# A quarter of hybrid-flow's refiner work (32 channels, 4 blocks: 0.09 M parameters):
# imf-hybrid-v4, the default. The whole decode runs at about 18 frames/s against v1's 22 on
# one 2-core machine (the DIS flow comes on top of the network; docs/BENCHMARKS.md).
PRESETS["hybrid-flow-fast"] = dataclasses.replace(PRESETS["hybrid-flow"], preset="hybrid-flow-fast", refiner_channels=32, refiner_blocks=4)
# hybrid-flow-fast that also sees the coded base pictures before and after each frame.
PRESETS["hybrid-flow-fast-nb"] = dataclasses.replace(PRESETS["hybrid-flow-fast"], preset="hybrid-flow-fast-nb", neighbour_pictures=2)
# The refiner at a quarter of the side, twice as wide: about hybrid-flow-fast's multiply-adds
# in wider, fewer-pixel convolutions (0.6 of its time on 2 cores, measured).
PRESETS["hybrid-flow-q"] = dataclasses.replace(PRESETS["hybrid-flow-fast"], preset="hybrid-flow-q", refiner_channels=64, refiner_scale=4)
# imf-hybrid-lite-v1, for decode speed (issue 21's item 9): half hybrid-flow-fast's width (a
# quarter of its refiner's multiply-adds, about 0.4 of its time on 2 cores) and DIS at preset
# fast; the whole decode about 1.7 times v4's speed (docs/BENCHMARKS.md).
PRESETS["hybrid-flow-lite"] = dataclasses.replace(
    PRESETS["hybrid-flow-fast"], preset="hybrid-flow-lite", refiner_channels=16, flow_preset="fast"
)
PRESETS["hybrid-flow-tiny"] = dataclasses.replace(PRESETS["hybrid-flow"], preset="hybrid-flow-tiny", refiner_channels=16, refiner_blocks=2)


def preset(name: str, **overrides: Any) -> IMFConfig:
    """A named preset, optionally with fields replaced (e.g. token_dim=64, size=128)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides) if overrides else PRESETS[name]


__all__ = ["IMFConfig", "PRESETS", "preset", "NUM_SCALES"]
