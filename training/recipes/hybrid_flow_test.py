"""Seconds-long hybrid v2 runs for the tests."""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("hybrid-flow-tiny", size=128),
    optim=OptimConfig(warmup_steps=1),
    data=DataConfig(
        batch_size=2, max_distance=4, curriculum_steps=2, keyframe_qualities=(3, 5), cache_max_frames=16, base_variants=((64, 50),)
    ),
    run=RunConfig(steps=4, log_every=1, val_every=2, checkpoint_every=2, image_every=0),
)
