"""The paper's model and losses on GPUs (Gao et al. 2024): VGG pyramid λ=10, L1 λ=10, GAN on."""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, LossConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("paper"),
    optim=OptimConfig(lr=2e-4, warmup_steps=1000, ema_decay=0.999),
    data=DataConfig(batch_size=8, max_distance=250, curriculum_steps=20_000),
    loss=LossConfig(lambda_l1=10.0, lambda_perceptual=10.0, lambda_gan=1.0, gan_start=20_000, lambda_rate=0.01),
    run=RunConfig(steps=200_000, val_every=2000, checkpoint_every=2000, image_every=2000),
)
