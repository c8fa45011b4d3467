"""The hybrid model on one GPU: hybrid_cpu's data, losses and learning rate with 4× its
batch, in fp32 (TF32 convolutions): under bf16 autocast the loss left its course within 30
steps, on the GPU and on a CPU alike, until MS-SSIM was computed in fp32 (docs/TRAINING.md).
The step count is set per run (scripts/train_hybrid_variants.py fits it to a wall-clock
budget); validation is left to scripts/hybrid_ablation.py."""

from imfcodec.training.recipes.hybrid_cpu import RECIPE as CPU_RECIPE

RECIPE = CPU_RECIPE.with_overrides(
    batch_size=16,
    amp="off",
    steps=4000,
    val_every=0,
    checkpoint_every=500,
    image_every=0,
    keep_checkpoints=1,
    threads_per_worker=3,
)
