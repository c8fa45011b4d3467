"""Seconds-long runs for the tests."""

from imfcodec.training.config import TrainConfig

RECIPE = TrainConfig(
    preset="tiny",
    size=64,
    token_dim=16,
    steps=4,
    batch_size=2,
    warmup_steps=1,
    max_distance=4,
    curriculum_steps=2,
    keyframe_qualities=(3, 5),
    log_every=1,
    val_every=0,
    checkpoint_every=2,
    image_every=0,
    cache_max_frames=16,
)
