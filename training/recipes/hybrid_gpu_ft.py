"""Fine-tuning imf-hybrid-v1 on one GPU: hybrid_cpu_ft's fine-tuning settings on hybrid_gpu's
batch, at 2.5× the CPU fine-tune's learning rate for 4× its batch. `run.init_from` names the
weights (a checkpoint folder whose weights.safetensors holds generator.model.*)."""

from imfcodec.training.recipes.hybrid_cpu_ft import FINE_TUNE
from imfcodec.training.recipes.hybrid_gpu import RECIPE as GPU_RECIPE

RECIPE = GPU_RECIPE.with_overrides(**{**FINE_TUNE, "lr": 7.5e-5})
