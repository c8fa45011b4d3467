"""The hybrid model on a 2-core CPU: base layers of 64², 96² and 128² at two CRFs each,
L1 with a small MS-SSIM term (PSNR is the target), no GAN, no tokens."""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, LossConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("hybrid-small"),
    optim=OptimConfig(lr=1.5e-4, warmup_steps=100),  # 3e-4 diverged at step 821 (docs/TRAINING.md)
    data=DataConfig(
        batch_size=4,
        max_distance=150,
        curriculum_start=8,
        curriculum_steps=500,
        val_frames=60,
        cache_max_frames=300,
        base_variants=((64, 50), (96, 45), (96, 55), (128, 55)),
    ),
    loss=LossConfig(lambda_l1=1.0, lambda_perceptual=0.1, lambda_gan=0.0, lambda_rate=0.0),
    run=RunConfig(steps=8000, val_every=500, checkpoint_every=250, image_every=1000, keep_checkpoints=3),
)
