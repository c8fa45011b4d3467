"""hybrid_flow_fast_cpu's data and schedule for the preset hybrid-flow-lite: 16 channels × 4
blocks and DIS at preset fast, sized so that the whole decode reaches 25 frames/s on 2 cores
where imf-hybrid-v4 (32 channels, DIS medium) runs at about 18 (issue 21's item 9). Trained
from scratch, the same seed and data as runs/fast2: at equal steps their validation says what
the speed costs (about 0.2 dB). Run to its 6,000 steps: imf-hybrid-lite-v1, a median 26
frames/s whole-command decode where v4 ran at 15 (docs/BENCHMARKS.md)."""

import dataclasses

from imfcodec.model.config import preset
from imfcodec.training.recipes.hybrid_flow_fast_cpu import RECIPE as FAST_RECIPE

RECIPE = dataclasses.replace(FAST_RECIPE, model=preset("hybrid-flow-lite"))
