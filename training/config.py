"""Training configuration: frozen dataclasses nested by concern; recipes in training/recipes/.

TrainConfig holds the model's own IMFConfig (what is built) beside the optimiser, the
training pairs, the losses and the run's bookkeeping. Run folders written before the
nesting stored one flat map; `from_dict` still reads them.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from imfcodec.bench.protocol import PROTOCOL_FRAMES
from imfcodec.model.config import IMFConfig, JsonConfig, preset

from ..errors import ConfigError


@dataclass(frozen=True)
class OptimConfig(JsonConfig):
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # the cosine decay ends at lr × this
    grad_clip: float = 1.0
    spike_factor: float = 5.0  # skip an update whose loss exceeds this × its running average
    # This many skipped updates in a row mean the weights themselves are broken (every later
    # loss is a "spike"): the run stops and says so instead of skipping to the end.
    max_skips_in_a_row: int = 50
    # Exponential moving average of the generator's weights (0: off); validated beside the
    # live weights and exported instead of them.
    ema_decay: float = 0.0


@dataclass(frozen=True)
class DataConfig(JsonConfig):
    batch_size: int = 8  # per worker
    # Pairs: current frame at distance 0..max_distance from the reference; the distance
    # grows linearly from curriculum_start to max_distance over curriculum_steps.
    max_distance: int = 100
    curriculum_start: int = 8
    curriculum_steps: int = 1000
    # Pairs at distance 0 ask for the clean frame back from its keyframe-codec copy. (Asking
    # for the degraded reference itself was tried and hurt: docs/TRAINING.md.)
    same_frame_prob: float = 0.1
    keyframe_qualities: tuple[int, int] = (2, 7)  # the reference is degraded by the keyframe codec
    cache_max_frames: int = 600  # per clip
    # Hybrid models: the base layers the frame cache holds, (side, SVT-AV1 CRF) each, or
    # (side, CRF, step) for a layer of every step-th frame with the others blended from their
    # neighbours, as the decoder fills them, or (side, CRF, step, 1) with them drawn by
    # motion (the encoder's `motion` fill); a batch draws one of them, so the model learns
    # every size, quality and frame rate it will be given.
    base_variants: tuple[tuple[int, ...], ...] = ()
    # Hybrid models: this share of pairs has as its reference the reference frame's base
    # picture upscaled, not its keyframe picture, as the decoder builds the reference of a
    # group without a keyframe picture (format 1.2, the encoder's default); validation
    # then measures that path.
    no_keyframe_share: float = 0.0
    val_frames: int = PROTOCOL_FRAMES  # per dev clip


@dataclass(frozen=True)
class LossConfig(JsonConfig):
    lambda_l1: float = 1.0
    lambda_perceptual: float = 1.0  # VGG19 pyramid, or MS-SSIM when VGG weights are absent
    lambda_gan: float = 0.0
    lambda_rate: float = 0.001  # per bit per token
    gan_start: int = 1000
    ada: bool = True
    ada_target: float = 0.6
    vgg_weights: str | None = None
    token_step_range: tuple[float, float] = (0.044, 0.5)  # uniform-noise width, log-uniform
    # The widest noise grows from the narrowest to the widest over these steps, and the rate
    # term starts at rate_start: motion must be found before it is taxed.
    token_noise_warmup_steps: int = 0
    rate_start: int = 0
    # The L1 term's weight on the frame's lower third (where the mouth is in these crops),
    # the rest at 1: the token model's probe for following expression (docs/TRAINING.md).
    lower_third_weight: float = 1.0


@dataclass(frozen=True)
class RunConfig(JsonConfig):
    steps: int = 2000
    amp: str = "auto"  # auto | bf16 | fp16 | off
    seed: int = 0
    log_every: int = 10
    val_every: int = 500
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    image_every: int = 500
    threads_per_worker: int = 0  # 0: torch's default split of the cores
    # Wall-clock limit (0: none): the run checkpoints, validates and stops after this many
    # minutes, as a device lent for a fixed window needs. The ranks agree on when.
    max_minutes: float = 0.0
    logger: str = "none"  # none | tensorboard | wandb
    # Start from these weights (a checkpoint folder step_NNNNNNN or a run folder, whose
    # last checkpoint is taken) with a fresh optimiser: fine-tuning. --resume wins.
    init_from: str | None = None


SECTIONS: dict[str, type[JsonConfig]] = {"optim": OptimConfig, "data": DataConfig, "loss": LossConfig, "run": RunConfig}


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    model: IMFConfig = field(default_factory=lambda: preset("small"))
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    loss: LossConfig = LossConfig()
    run: RunConfig = RunConfig()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if "model" not in data:
            return cls._from_flat(data)
        unknown = set(data) - {"model", *SECTIONS}
        if unknown:
            raise ConfigError(f"unknown TrainConfig sections: {sorted(unknown)}")
        return cls(
            model=IMFConfig.from_dict(data["model"]),
            optim=OptimConfig.from_dict(data.get("optim", {})),
            data=DataConfig.from_dict(data.get("data", {})),
            loss=LossConfig.from_dict(data.get("loss", {})),
            run=RunConfig.from_dict(data.get("run", {})),
        )

    @classmethod
    def _from_flat(cls, data: dict[str, Any]) -> TrainConfig:
        """A run folder's config.json from before the nesting: preset/size/token_dim name the model."""
        flat = dict(data)
        flat.pop("same_frame_identity", None)  # experiment flags since removed (both were off)
        flat.pop("clean_ref_prob", None)
        model = preset(flat.pop("preset", "small"), size=flat.pop("size", 256), token_dim=flat.pop("token_dim", 32))
        return cls(model=model).with_overrides(**{k: tuple(v) if isinstance(v, list) else v for k, v in flat.items()})

    def with_overrides(self, **fields: Any) -> TrainConfig:
        """Replace fields by their own names, whatever section holds them (`steps=3, lr=0`)."""
        sections: dict[str, dict[str, Any]] = {}
        for key, value in fields.items():
            owner = next((name for name, kind in SECTIONS.items() if key in _field_names(kind)), None)
            if owner is None:
                raise ConfigError(f"unknown training option {key!r}")
            sections.setdefault(owner, {})[key] = value
        return dataclasses.replace(self, **{name: dataclasses.replace(getattr(self, name), **v) for name, v in sections.items()})


def _field_names(kind: type[JsonConfig]) -> set[str]:
    return {f.name for f in fields(kind)}  # type: ignore[arg-type]


def load_recipe(name_or_file: str) -> TrainConfig:
    """A recipe by name (a module in training/recipes) or a JSON file of TrainConfig."""
    path = Path(name_or_file)
    if path.suffix == ".json" and path.is_file():
        return TrainConfig.from_dict(json.loads(path.read_text()))
    try:
        module = importlib.import_module(f"imfcodec.training.recipes.{name_or_file}")
    except ModuleNotFoundError:
        raise ConfigError(f"unknown recipe {name_or_file!r}") from None
    recipe: TrainConfig = module.RECIPE
    return recipe
