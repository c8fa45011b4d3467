"""hybrid_flow_fast_cpu's model and data, the refiner also given the coded base pictures
before and after each frame (preset hybrid-flow-fast-nb, issue 21's item 2). Everything else
as that recipe, the same steps: the two runs are the neighbours' ablation at equal training."""

import dataclasses

from imfcodec.model.config import preset
from imfcodec.training.recipes.hybrid_flow_fast_cpu import RECIPE as FAST_RECIPE

RECIPE = dataclasses.replace(FAST_RECIPE, model=preset("hybrid-flow-fast-nb"))
