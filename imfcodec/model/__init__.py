"""The IMF model and its hybrid: configuration, modules and weights."""

from .build import HYBRID_MODELS, HybridModel, build_model
from .config import PRESETS, IMFConfig, preset
from .flow_hybrid import FlowHybrid
from .hybrid import HybridIMF, HybridReference
from .imf import IMF, ReferenceState, count_parameters

__all__ = [
    "FlowHybrid",
    "HYBRID_MODELS",
    "HybridModel",
    "IMF",
    "HybridIMF",
    "HybridReference",
    "IMFConfig",
    "PRESETS",
    "ReferenceState",
    "build_model",
    "count_parameters",
    "preset",
]
