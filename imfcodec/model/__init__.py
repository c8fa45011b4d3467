"""The IMF model and its hybrid: configuration, modules and weights."""

from torch import nn

from .config import PRESETS, IMFConfig, preset
from .hybrid import HybridIMF, HybridReference
from .imf import IMF, ReferenceState, count_parameters


def build_model(config: IMFConfig) -> nn.Module:
    """The model a config describes: IMF (tokens), or the hybrid (a base layer)."""
    return HybridIMF(config) if config.architecture == "hybrid" else IMF(config)


__all__ = ["IMF", "HybridIMF", "HybridReference", "IMFConfig", "PRESETS", "ReferenceState", "build_model", "count_parameters", "preset"]
