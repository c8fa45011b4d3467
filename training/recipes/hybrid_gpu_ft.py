"""Fine-tuning imf-hybrid-v1 on one GPU: its data and losses, base layers at full and at half
frame rate (the skipped frames blended from their neighbours, as the decoder fills them), a
lower learning rate than training from scratch, and a fresh optimiser. `run.init_from`
names the weights (a checkpoint folder whose weights.safetensors holds generator.model.*)."""

from imfcodec.training.recipes.hybrid_gpu import RECIPE as GPU_RECIPE

RECIPE = GPU_RECIPE.with_overrides(
    lr=7.5e-5,
    warmup_steps=50,
    curriculum_start=150,  # the model already follows motion at every distance
    curriculum_steps=1,
    base_variants=((64, 50), (96, 45), (96, 55), (128, 55), (64, 55, 2), (96, 50, 2), (96, 57, 2)),
    checkpoint_every=250,
)
