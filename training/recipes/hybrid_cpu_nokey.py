"""Fine-tuning imf-hybrid-v1 on a 2-core CPU for groups without a keyframe picture (format
1.2, the encoder's default): hybrid_cpu_ft's data, losses and learning rate, and three
pairs in four with the reference frame's base picture upscaled as the reference, as the
decoder builds it; validation measures that path. `--init-from` names the weights."""

from imfcodec.training.recipes.hybrid_cpu import RECIPE as CPU_RECIPE
from imfcodec.training.recipes.hybrid_cpu_ft import FINE_TUNE

RECIPE = CPU_RECIPE.with_overrides(
    **FINE_TUNE,
    no_keyframe_share=0.75,  # a quarter keep the AV1 keyframe: --keyframe-codec av1 stays served
    steps=4000,
    val_every=500,
    keep_checkpoints=8,  # validation picks the checkpoint to ship, so keep each one it scored
    threads_per_worker=2,
)
