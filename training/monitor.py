"""What a training run reports: metrics to TensorBoard or W&B, a progress bar, image grids."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imfcodec.frames import tensor_to_frames

from ..errors import ConfigError
from .config import TrainConfig


class ExternalLogger:
    """Optional TensorBoard or Weights & Biases logging (offline unless a wandb key is set).
    A missing package is a warning, not a failure: metrics.jsonl is always written."""

    def __init__(self, kind: str, out: Path, cfg: TrainConfig) -> None:
        self.writer: Any = None
        self.kind = kind
        if kind == "none":
            return
        import warnings

        try:
            if kind == "tensorboard":
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tensorboard"))
            elif kind == "wandb":
                import wandb

                mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
                self.writer = wandb.init(project="imfcodec", dir=str(out), mode=mode, config=json.loads(cfg.to_json()))
            else:
                raise ConfigError(f"unknown logger {kind!r} (none, tensorboard, wandb)")
        except ImportError:
            warnings.warn(f"--logger {kind}: package not installed; logging to metrics.jsonl only", stacklevel=2)

    def log(self, step: int, values: dict[str, Any]) -> None:
        numbers = {k: v for k, v in values.items() if isinstance(v, (int, float)) and k != "step"}
        if self.writer is None:
            return
        if self.kind == "tensorboard":
            for k, v in numbers.items():
                self.writer.add_scalar(k, v, step)
        else:
            self.writer.log(numbers, step=step)

    def close(self) -> None:
        if self.writer is not None:
            (self.writer.close if self.kind == "tensorboard" else self.writer.finish)()


class TrainProgress:
    """A rich progress bar on the main rank; silent elsewhere."""

    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("train"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        if self.bar:
            info = (
                f"loss {metrics['loss']:.4f} l1 {metrics['l1']:.4f} bits {metrics.get('rate_bits_per_token', 0.0):.1f} "
                f"{metrics['samples_per_s']:.1f} samples/s"
            )
            self.bar.update(self.task, completed=step, info=info)

    def note(self, text: str) -> None:
        if self.bar:
            self.bar.console.print(text)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def save_grid(path: Path, ref: torch.Tensor, cur: torch.Tensor, recon: torch.Tensor) -> None:
    """reference | current | reconstruction, one row per sample (up to 4)."""
    from imfcodec.codec.video_io import write_png

    rows = [torch.cat([ref[i], cur[i], recon[i].float()], dim=2) for i in range(min(4, ref.shape[0]))]
    grid = tensor_to_frames(torch.cat(rows, dim=1)[None])[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.ascontiguousarray(grid))
