"""Fine-tuning imf-hybrid-v1 on a 2-core CPU for half-rate base layers: hybrid_cpu's data and
losses, its base layers plus three at every second frame (the skipped frames blended from
their neighbours, as the decoder fills them), a fifth of its learning rate (continuing at the
full rate lost validation PSNR: docs/TRAINING.md) and a fresh optimiser. `--init-from`
names the weights."""

from imfcodec.training.recipes.hybrid_cpu import RECIPE as CPU_RECIPE

# What every fine-tune of the hybrid shares (hybrid_gpu_ft too).
FINE_TUNE = dict(
    lr=3e-5,
    warmup_steps=50,
    curriculum_start=150,  # the model already follows motion at every distance
    curriculum_steps=1,
    base_variants=((64, 50), (96, 45), (96, 55), (128, 55), (64, 55, 2), (96, 50, 2), (96, 57, 2)),
    checkpoint_every=250,
)

RECIPE = CPU_RECIPE.with_overrides(
    **FINE_TUNE,
    steps=3000,
    val_every=500,
    keep_checkpoints=6,  # validation picks the checkpoint to ship, so keep each one it scored
    threads_per_worker=2,  # alone on the cores: 1 thread beside the benchmark ran 130 steps in 70 minutes
)
