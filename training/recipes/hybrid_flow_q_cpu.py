"""hybrid_flow_fast_cpu's data and schedule for the preset hybrid-flow-q: the refiner at a
quarter of the side (64² for 256², pixel-unshuffled ×4) and 64 channels wide, about the fast
preset's multiply-adds in wider convolutions over a quarter of the pixels, which run in
about 0.6 of its time on 2 cores. Trained from scratch: the comparison with runs/fast2 at
equal steps says whether the coarser grid costs quality."""

import dataclasses

from imfcodec.model.config import preset
from imfcodec.training.recipes.hybrid_flow_fast_cpu import RECIPE as FAST_RECIPE

RECIPE = dataclasses.replace(FAST_RECIPE, model=preset("hybrid-flow-q"))
