"""training/: DDP on CPU with gloo, bf16 autocast, exact resume, export, the VGG fallback."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from tests.conftest import synthetic_frames, write_clip
from training.config import load_recipe
from training.launcher import LaunchSpec, launch
from training.trainer import RunPaths, train

pytestmark = pytest.mark.filterwarnings("ignore:VGG19 weights not found")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train-data")
    write_clip(folder / "a.mp4", synthetic_frames(12, 80, 64, seed=1))
    write_clip(folder / "b.mp4", synthetic_frames(12, 64, 64, seed=2))
    return folder


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def tiny(**overrides):
    return dataclasses.replace(load_recipe("tiny_test"), **overrides)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_ddp_two_cpu_workers(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    run = tmp_path / "ddp"
    launch(tiny(steps=3), RunPaths(data=data_dir, out=run, cache=cache_dir), LaunchSpec(gpus=0, workers=2))
    logged = metrics(run)
    assert logged[-1]["world_size"] == 2 and logged[-1]["step"] == 3
    assert all(math.isfinite(m["loss"]) for m in logged)
    digests = {(run / f"weights-rank{r}.sha256").read_text() for r in (0, 1)}
    assert len(digests) == 1  # both ranks hold identical weights


def test_bf16_autocast_step_on_cpu(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    last = train(tiny(steps=2, amp="bf16", checkpoint_every=0), RunPaths(data=data_dir, out=tmp_path, cache=cache_dir))
    assert last["step"] == 2 and math.isfinite(last["loss"]) and math.isfinite(last["rate_bits_per_token"])


def test_kill_and_resume_equals_uninterrupted(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    cfg = tiny(steps=4, checkpoint_every=2)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(cfg, RunPaths(data=data_dir, out=straight, cache=cache_dir))
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), stop_after=2)  # as if killed after step 2
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), resume=True)
    assert (straight / "weights-rank0.sha256").read_text() == (resumed / "weights-rank0.sha256").read_text()
    kept = sorted(p.name for p in (resumed / "checkpoints").iterdir())
    assert kept == ["step_0000002", "step_0000004"]


def test_gan_and_ada_step(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    last = train(tiny(steps=2, lambda_gan=0.1, gan_start=0, checkpoint_every=0), RunPaths(data=data_dir, out=tmp_path, cache=cache_dir))
    assert math.isfinite(last["gan_d"]) and last["gan_d"] > 0


def test_export_then_encode(tmp_path: Path, data_dir: Path, cache_dir: Path, clip: Path) -> None:
    from typer.testing import CliRunner

    from imfcodec.cli import app

    run = tmp_path / "run"
    train(tiny(steps=2), RunPaths(data=data_dir, out=run, cache=cache_dir))
    runner = CliRunner()
    weights = tmp_path / "exported.safetensors"
    result = runner.invoke(app, ["export", str(run), str(weights), "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "exported.md").read_text()
    assert "Model card" in card and "2 steps" in card
    result = runner.invoke(app, ["encode", str(clip), str(tmp_path / "x.imf"), "--model", str(weights), "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["decode", str(tmp_path / "x.imf"), str(tmp_path / "x.mkv"), "--model", str(weights), "--quiet"])
    assert result.exit_code == 0, result.output


def test_missing_vgg_falls_back_with_warning() -> None:
    from training.losses import StructuralLoss, perceptual_loss

    with pytest.warns(UserWarning, match="falls back to MS-SSIM"):
        loss = perceptual_loss(None)
    assert isinstance(loss, StructuralLoss)
    with pytest.raises(FileNotFoundError):
        perceptual_loss("/nonexistent/vgg19.safetensors")


def test_train_command_line(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    from typer.testing import CliRunner

    from imfcodec.cli import app

    run = tmp_path / "cli-run"
    args = ["train", "--data", str(data_dir), "--config", "tiny_test", "--steps", "1", "--out", str(run), "--cache", str(cache_dir)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert metrics(run)[-1]["step"] == 1
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "missing"), "--config", "tiny_test", "--out", str(run)])
    assert result.exit_code == 1 and "no such data folder" in result.output
