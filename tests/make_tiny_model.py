"""Regenerate tests/expected/tiny-test.safetensors: `python -m tests.make_tiny_model`.

The tiny model is *trained* (briefly, on synthetic clips of a moving disc), so that its
TokenNorm statistics are real: tokens move by whole quantisation steps between frames,
residuals are non-zero and every decoded frame depends on its token and on EF, ET, IMFD,
IMFA and DF. (An untrained model codes zeros and decodes every frame to its keyframe:
golden hashes made with it prove nothing about the network.) The file is committed, so
golden hashes do not depend on how a torch build initialises or trains weights; after
regenerating it, regenerate the goldens (IMFCODEC_REGEN_GOLDEN=1) and say why.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from imfcodec.training.config import load_recipe
from imfcodec.training.export import export_run
from imfcodec.training.trainer import RunPaths, train
from tests.conftest import synthetic_frames, write_clip

STEPS = int(os.environ.get("TINY_STEPS", 300))
OUT = Path(__file__).parent / "expected" / "tiny-test.safetensors"


def main() -> None:
    work = Path(tempfile.mkdtemp())
    try:
        data = work / "data"
        data.mkdir()
        for seed in range(4):
            write_clip(data / f"clip{seed}.mp4", synthetic_frames(24, 64, 64, seed=seed))
        cfg = load_recipe("tiny_test").with_overrides(
            steps=STEPS, checkpoint_every=STEPS, log_every=50, max_distance=12, curriculum_steps=100
        )
        train(cfg, RunPaths(data=data, out=work / "run"), device="cpu")
        model_id = export_run(work / "run", OUT, data=data, notes=f"Test model: {STEPS} steps on synthetic moving-disc clips.")
        OUT.with_suffix(".md").unlink()  # the card's wall-clock numbers would change on every run
        print(model_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
