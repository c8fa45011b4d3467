"""Regenerate tests/expected/tiny-test.safetensors (run by hand; the file is committed so
that golden hashes do not depend on how this torch build initialises weights)."""

from pathlib import Path

import numpy as np
import torch

from imfcodec.model import IMF, preset
from imfcodec.model.prior import frozen_tables
from imfcodec.model.weights import save_weights

if __name__ == "__main__":
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64, token_dim=16))
    scales = np.full((8, 16), 1.5) * np.linspace(0.5, 2.0, 8)[:, None]
    out = Path(__file__).parent / "expected" / "tiny-test.safetensors"
    print(save_weights(model, out, tables=frozen_tables(scales), provenance={"purpose": "tests", "trained": False}))
