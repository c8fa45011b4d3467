"""The hybrid model on one GPU: hybrid_cpu's data, losses and learning rate with 4× its
batch, in fp32 (TF32 convolutions): under bf16 autocast the loss left its course within 30
steps, on the GPU and on a CPU alike (docs/TRAINING.md). The step count is set per run (scripts/train_hybrid_variants.py fits it to a
wall-clock budget)."""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, LossConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("hybrid-small"),
    optim=OptimConfig(lr=1.5e-4, warmup_steps=100),
    data=DataConfig(
        batch_size=16,
        max_distance=150,
        curriculum_start=8,
        curriculum_steps=500,
        val_frames=60,
        cache_max_frames=300,
        base_variants=((64, 50), (96, 45), (96, 55), (128, 55)),
    ),
    loss=LossConfig(lambda_l1=1.0, lambda_perceptual=0.1, lambda_gan=0.0, lambda_rate=0.0),
    run=RunConfig(steps=4000, amp="off", val_every=0, checkpoint_every=500, image_every=0, keep_checkpoints=1, threads_per_worker=3),
)
