"""The model a config describes: IMF (tokens), the hybrid v1 (attention), or hybrid v2 (flow)."""

from __future__ import annotations

from typing import Union

from .config import IMFConfig
from .flow_hybrid import FlowHybrid
from .hybrid import HybridIMF
from .imf import IMF

HybridModel = Union[HybridIMF, FlowHybrid]
HYBRID_MODELS = (HybridIMF, FlowHybrid)


def build_model(config: IMFConfig) -> IMF | HybridIMF | FlowHybrid:
    if config.architecture != "hybrid":
        return IMF(config)
    return FlowHybrid(config) if config.hybrid_reference == "flow" else HybridIMF(config)
