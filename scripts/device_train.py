"""One command for a lent GPU window: stage the clips losslessly, train the token model for a
fixed number of minutes, validate, and export weights, all under one output folder.

    python scripts/device_train.py --train TRAIN_DIR --val DEV_DIR --out OUT \
        --recipe paper_gpu --gpus 1 --minutes 7

Steps, each logged to OUT/device_train.log with its wall time:
1. **stage**: every clip's first --frames frames at the model's size, exactly as the frame
   cache reads them (`iter_frames`), into FFV1 RGB (lossless: read back bit-exact, checked
   on the first clip) under OUT/clips/{train,val}. No YUV round trip: last time a staging
   through a YUV codec darkened the clips and the model learnt it (docs/TRAINING.md).
2. **train**: `imfcodec train --config OUT/config.json` (the recipe with run.max_minutes =
   --minutes: the trainer checkpoints and validates at the limit and stops; ranks agree),
   AMP and DDP as the recipe and --gpus say, into OUT/run (checkpoints, metrics.jsonl,
   validation.jsonl).
3. **export**: `imfcodec export OUT/run OUT/<name>.safetensors --data OUT/clips/train --val
   OUT/clips/val` (entropy tables fitted on the staged train clips, the model card beside it).

Budget a 10-minute window as: staging ~1 min for 48 clips × 240 frames, --minutes 7, export
and validation ~1 min. The CPU test runs it end to end with the tiny recipe.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from imfcodec.codec.video_io import VideoWriter, iter_frames, probe
from imfcodec.training.config import TrainConfig, load_recipe
from imfcodec.training.data import list_videos


def stage(clips: list[Path], out: Path, size: int, frames: int, log) -> list[Path]:  # type: ignore[no-untyped-def]
    """Lossless copies of `clips` at `size`² under `out`; the first one is read back and compared."""
    out.mkdir(parents=True, exist_ok=True)
    staged = []
    for i, clip in enumerate(clips):
        target = out / f"{clip.stem}.mkv"
        original = np.stack(list(iter_frames(clip, size=size, max_frames=frames)))
        writer = VideoWriter(target, probe(clip).fps, size, size)
        for f in original:
            writer.write(f)
        writer.close()
        if i == 0:
            back = np.stack(list(iter_frames(target, size=size, max_frames=frames)))
            if back.shape != original.shape or not np.array_equal(back, original):
                raise SystemExit(f"staging is not lossless: {target} reads back different from {clip}")
            log(f"stage: {target.name} reads back bit-exact ({len(back)} frames)")
        staged.append(target)
    return staged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recipe", default="paper_gpu", help="a recipe of training/recipes (paper_gpu, small_cpu, tiny_test, ...)")
    ap.add_argument("--gpus", type=int, default=1, help="0: CPU (gloo, --workers 1)")
    ap.add_argument("--minutes", type=float, default=7.0, help="training wall-clock limit")
    ap.add_argument("--frames", type=int, default=240, help="frames staged per clip")
    ap.add_argument("--steps", type=int, default=None, help="step limit (default: the recipe's; the minutes usually end it first)")
    ap.add_argument("--name", default=None, help="exported weights' file name (default: imf-<preset>-device)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "device_train.log", "a")
    t0 = time.time()

    def log(message: str) -> None:
        line = f"[{time.time() - t0:7.1f} s] {message}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    def run(cmd: list[str]) -> None:
        log("run: " + " ".join(cmd))
        code = subprocess.call(cmd)
        if code != 0:
            log(f"failed with exit code {code}")
            raise SystemExit(code)

    recipe: TrainConfig = load_recipe(args.recipe)
    size = recipe.model.size
    train = stage(list_videos(args.train), args.out / "clips" / "train", size, args.frames, log)
    val = stage(list_videos(args.val), args.out / "clips" / "val", size, args.frames, log)
    log(f"staged {len(train)} train and {len(val)} val clips at {size}²")
    config = json.loads(recipe.to_json())
    config["run"]["max_minutes"] = args.minutes
    if args.steps is not None:
        config["run"]["steps"] = args.steps
    (args.out / "config.json").write_text(json.dumps(config, indent=1))
    cli = [sys.executable, "-m", "imfcodec.cli"]
    train_cmd = [*cli, "train", "--data", str(args.out / "clips" / "train"), "--val", str(args.out / "clips" / "val")]
    train_cmd += ["--config", str(args.out / "config.json"), "--out", str(args.out / "run"), "--gpus", str(args.gpus)]
    if (args.out / "run" / "checkpoints").is_dir():
        train_cmd.append("--resume")  # a second window continues the first
    run(train_cmd)
    name = args.name or f"imf-{recipe.model.preset}-device"
    export = [*cli, "export", str(args.out / "run"), str(args.out / f"{name}.safetensors")]
    run(export + ["--data", str(args.out / "clips" / "train"), "--val", str(args.out / "clips" / "val")])
    log(f"done: {args.out / f'{name}.safetensors'}")


if __name__ == "__main__":
    main()
