"""The shipped provisional model: `small` on a 2-core CPU, about an hour.
Rate weight small and GAN off: an hour of CPU is spent on motion, not texture.
"""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, LossConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("small"),
    optim=OptimConfig(lr=2e-4, warmup_steps=100),
    data=DataConfig(batch_size=4, max_distance=100, curriculum_start=4, curriculum_steps=1500, val_frames=120),
    loss=LossConfig(lambda_perceptual=0.5, lambda_gan=0.0, lambda_rate=1e-4, rate_start=800, token_noise_warmup_steps=1000),
    run=RunConfig(steps=2800, val_every=500, checkpoint_every=250, image_every=500),
)
