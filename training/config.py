"""Training configuration as a frozen dataclass; named recipes live in training/recipes/."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from imfcodec.model.config import JsonConfig

from ..errors import ConfigError


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    preset: str = "small"
    size: int = 256
    token_dim: int = 32
    steps: int = 2000
    batch_size: int = 8  # per worker
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    spike_factor: float = 5.0  # skip an update whose loss exceeds this × its running average
    # Pairs: current frame at distance 0..max_distance from the reference; the distance
    # grows linearly from curriculum_start to max_distance over curriculum_steps.
    max_distance: int = 100
    curriculum_start: int = 8
    curriculum_steps: int = 1000
    same_frame_prob: float = 0.1  # pairs at distance 0
    # Distance-0 pairs ask for the clean frame from its degraded copy (False), or for the
    # reference itself back (True). True was tried and hurt: with the quantisation noise on
    # the token it teaches that token differences the size of real motion mean "no change"
    # (docs/TRAINING.md); the model's correction gate makes equal tokens exact instead.
    same_frame_identity: bool = False
    clean_ref_prob: float = 0.0  # references that are the clean frame, not a codec copy
    keyframe_qualities: tuple[int, int] = (2, 7)  # reference degraded by the keyframe codec
    token_step_range: tuple[float, float] = (0.044, 0.5)  # uniform-noise width, log-uniform
    # The widest noise grows from the narrowest to the widest over these steps, and the rate
    # term starts at rate_start: motion must be found before it is taxed.
    token_noise_warmup_steps: int = 0
    rate_start: int = 0
    # Exponential moving average of the generator's weights (0: off); validated beside the
    # live weights and exported instead of them.
    ema_decay: float = 0.0
    # Loss weights.
    lambda_l1: float = 1.0
    lambda_perceptual: float = 1.0  # VGG19 pyramid, or MS-SSIM when VGG weights are absent
    lambda_gan: float = 0.0
    lambda_rate: float = 0.001  # per bit per token
    gan_start: int = 1000
    ada: bool = True
    ada_target: float = 0.6
    vgg_weights: str | None = None
    # Start from these weights (a checkpoint folder step_NNNNNNN or a run folder, whose
    # last checkpoint is taken) with a fresh optimiser: fine-tuning. --resume wins.
    init_from: str | None = None
    # Runtime.
    amp: str = "auto"  # auto | bf16 | fp16 | off
    seed: int = 0
    log_every: int = 10
    val_every: int = 500
    val_frames: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    image_every: int = 500
    threads_per_worker: int = 0  # 0: torch's default split of the cores
    cache_max_frames: int = 600  # per clip
    logger: str = "none"  # none | tensorboard | wandb


def load_recipe(name_or_file: str) -> TrainConfig:
    """A recipe by name (a module in training/recipes) or a JSON file of fields."""
    path = Path(name_or_file)
    if path.suffix == ".json" and path.is_file():
        return TrainConfig.from_dict(json.loads(path.read_text()))
    try:
        module = importlib.import_module(f"imfcodec.training.recipes.{name_or_file}")
    except ModuleNotFoundError:
        raise ConfigError(f"unknown recipe {name_or_file!r}") from None
    return module.RECIPE
