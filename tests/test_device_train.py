"""scripts/device_train.py, the one command for a lent GPU window, end to end on the CPU
with the tiny recipe: staged losslessly, trained under a wall-clock limit, validated,
exported. Fails if a step of the chain breaks (staging that is not lossless, a trainer
that ignores run.max_minutes and runs to its step count, an export that cannot read the run)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from imfcodec.model.weights import load_weights

from .conftest import synthetic_frames, write_clip

SCRIPT = Path(__file__).parent.parent / "scripts" / "device_train.py"


def test_the_device_command_runs_end_to_end_with_the_tiny_recipe(tmp_path: Path) -> None:
    for split, seeds in (("train", (0, 1)), ("val", (2,))):
        (tmp_path / split).mkdir()
        for seed in seeds:
            write_clip(tmp_path / split / f"c{seed}.mp4", synthetic_frames(12, 80, 64, seed=seed))
    out = tmp_path / "out"
    t0 = time.time()
    # 100 000 steps would take hours: the minute limit is what must end the run.
    cmd = [sys.executable, str(SCRIPT), "--train", str(tmp_path / "train"), "--val", str(tmp_path / "val"), "--out", str(out)]
    cmd += ["--recipe", "tiny_test", "--gpus", "0", "--minutes", "0.05", "--frames", "10", "--steps", "100000"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert time.time() - t0 < 300
    log = (out / "device_train.log").read_text()
    assert "reads back bit-exact" in log and "done:" in log
    assert sorted(p.name for p in (out / "clips" / "train").iterdir()) == ["c0.mkv", "c1.mkv"]
    assert json.loads((out / "config.json").read_text())["run"]["max_minutes"] == 0.05
    steps = [json.loads(line)["step"] for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < max(steps) < 100000
    assert any((out / "run" / "checkpoints").iterdir())
    assert (out / "run" / "validation.jsonl").is_file()  # the limit validates even with val_every 0
    loaded = load_weights(out / "imf-tiny-device.safetensors")
    assert loaded.tables is not None
    assert (out / "imf-tiny-device.md").is_file()
