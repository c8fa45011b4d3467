"""Hybrid v2 fine-tuned on the layers `--bitrate` now sends (a 2-core CPU): from 3 to 8 kbps
the first pass chose 128² on 23 of 24 dev points, every 3rd to 5th picture (every 2nd at 8
kbps on two clips), the skipped frames mostly drawn by motion, and no keyframe picture.
hybrid_flow_cpu trained on 64-128² layers at every 1st-3rd picture, blended, with keyframe
pictures. This recipe: those 128² layers (CRF 55-60, about what 3-8 kbps buys), four of
five drawn by motion, four of five references the first base picture upscaled (the
encoder's files), half hybrid_flow_cpu's learning rate, a fresh optimiser. `--init-from`
names the weights (the hybrid_flow_cpu run's step-3,500 checkpoint: imf-hybrid-v3)."""

from imfcodec.training.hybrid import MOTION
from imfcodec.training.recipes.hybrid_flow_cpu import RECIPE as FLOW_RECIPE

RECIPE = FLOW_RECIPE.with_overrides(
    lr=1e-4,
    warmup_steps=50,
    base_variants=((128, 55, 3, MOTION), (128, 58, 4, MOTION), (128, 60, 5, MOTION), (128, 57, 4), (128, 55, 2)),
    no_keyframe_share=0.8,
    steps=3000,
    threads_per_worker=1,  # beside the benchmarks
)
