"""The IMF model: configuration, modules and weights."""

from .config import PRESETS, IMFConfig, preset
from .imf import IMF, ReferenceState, count_parameters

__all__ = ["IMF", "IMFConfig", "PRESETS", "ReferenceState", "count_parameters", "preset"]
