"""The paper's model and losses on GPUs (Gao et al. 2024): VGG pyramid λ=10, L1 λ=10, GAN on."""

from imfcodec.training.config import TrainConfig

RECIPE = TrainConfig(
    preset="paper",
    steps=200_000,
    batch_size=8,
    lr=2e-4,
    warmup_steps=1000,
    max_distance=250,
    curriculum_steps=20_000,
    lambda_l1=10.0,
    lambda_perceptual=10.0,
    lambda_gan=1.0,
    gan_start=20_000,
    lambda_rate=0.01,
    ema_decay=0.999,
    val_every=2000,
    checkpoint_every=2000,
    image_every=2000,
)
