"""Where a worker runs and at what rate it learns: its place in the process group, its device,
its autocast type and the learning-rate schedule."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from .config import TrainConfig


@dataclass(frozen=True)
class Topology:
    """Where this worker sits: torch's launcher sets RANK, WORLD_SIZE and LOCAL_RANK."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @classmethod
    def from_environment(cls) -> Topology:
        env = os.environ
        return cls(
            int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1))
        )

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}[amp]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio. A function of the step alone (not
    a scheduler's state), so a resumed run sets exactly the rate the straight run had."""
    o = cfg.optim
    if step < o.warmup_steps:
        return (step + 1) / o.warmup_steps
    progress = (step - o.warmup_steps) / max(1, cfg.run.steps - o.warmup_steps)
    return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
