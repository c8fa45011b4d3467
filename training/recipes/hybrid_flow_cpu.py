"""Hybrid v2 (model/flow_hybrid.py) on a 2-core CPU: the refiner on 128² windows of 256²
frames (the flow on whole frames), L1 only (PSNR is the target), Adam at 2e-4, batch 8; base
layers at the shapes --bitrate picks (64²–128², every frame to every 3rd) and the probe's
(64², CRF 50, every frame); references degraded at keyframe qualities 3–5 (CRF 45–35)."""

from imfcodec.model.config import preset
from imfcodec.training.config import DataConfig, LossConfig, OptimConfig, RunConfig, TrainConfig

RECIPE = TrainConfig(
    model=preset("hybrid-flow"),
    optim=OptimConfig(lr=2e-4, warmup_steps=50),
    data=DataConfig(
        batch_size=8,
        max_distance=100,
        curriculum_start=100,  # the flow aligns at any distance: no curriculum to speak of
        curriculum_steps=1,
        keyframe_qualities=(3, 5),
        val_frames=60,
        cache_max_frames=120,
        base_variants=((64, 50), (96, 50), (96, 55, 2), (128, 55, 3)),
    ),
    loss=LossConfig(lambda_l1=1.0, lambda_perceptual=0.0, lambda_gan=0.0, lambda_rate=0.0),
    run=RunConfig(steps=6000, val_every=250, checkpoint_every=250, image_every=0, keep_checkpoints=12, threads_per_worker=2),
)
