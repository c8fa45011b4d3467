"""Named training recipes, one module each, each defining RECIPE: TrainConfig."""
