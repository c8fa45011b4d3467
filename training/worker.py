"""Entry point of one launched worker: `python -m imfcodec.training.worker RUN_DIR/launch.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ImfcodecError
from .config import TrainConfig
from .trainer import RunPaths, train


def main(argv: list[str]) -> None:
    job = json.loads(Path(argv[0]).read_text())
    paths = RunPaths(
        data=Path(job["data"]),
        out=Path(job["out"]),
        val=Path(job["val"]) if job["val"] else None,
        cache=Path(job["cache"]) if job["cache"] else None,
    )
    train(TrainConfig.from_dict(job["config"]), paths, device=job["device"], resume=job["resume"])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ImfcodecError as exc:  # the user's to fix (a diverged run, a bad checkpoint): one line, no traceback
        sys.exit(f"error: {exc}")
