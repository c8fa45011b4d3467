"""Hybrid v2 at a quarter of its refiner's work (preset hybrid-flow-fast: 32 channels, 4
blocks), trained from scratch on a 2-core CPU on the layers `--bitrate` sends: 128², every
2nd to 5th picture, CRF 55-60, the skipped frames mostly drawn by motion (and some 96²), four
of five references the first base picture upscaled (the encoder's files carry no keyframe
picture). hybrid_flow_cpu's optimiser and window; one torch thread beside the benchmarks.
Why: imf-hybrid-v3 gains 0.3 dB more than imf-hybrid-v1 on the default's own files but
decodes at 8 frames/s against 29; this one's network is sized to run about as fast as v1's
(the decoder's DIS flow comes on top: the whole decode about 18 frames/s against v1's 22 on
one 2-core machine, docs/BENCHMARKS.md). Run to the end of its 6,000 steps: imf-hybrid-v4."""

import dataclasses

from imfcodec.model.config import preset
from imfcodec.training.hybrid import MOTION
from imfcodec.training.recipes.hybrid_flow_cpu import RECIPE as FLOW_RECIPE

RECIPE = dataclasses.replace(FLOW_RECIPE, model=preset("hybrid-flow-fast")).with_overrides(
    base_variants=(
        (128, 55, 3, MOTION),
        (128, 58, 4, MOTION),
        (128, 60, 5, MOTION),
        (128, 57, 4),
        (128, 55, 2),
        (96, 55, 3, MOTION),
    ),
    no_keyframe_share=0.8,
    threads_per_worker=1,
)
