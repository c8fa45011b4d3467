"""training/: DDP on CPU with gloo, bf16 autocast, exact resume, export, the VGG fallback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from imfcodec.training.checkpoint import CheckpointError
from imfcodec.training.config import load_recipe
from imfcodec.training.launcher import LaunchSpec, WorkerFailed, launch
from imfcodec.training.trainer import RunPaths, train

pytestmark = pytest.mark.filterwarnings("ignore:VGG19 weights not found")


def tiny(**overrides):
    return load_recipe("tiny_test").with_overrides(**overrides)


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


def test_a_failing_worker_is_one_line_not_a_launcher_traceback(tmp_path: Path, data_dir: Path, cache_dir: Path, capfd) -> None:
    """A worker's own error (here: a hybrid recipe without base layers) reaches the user as
    that one line and a WorkerFailed, not as the elastic launcher's ChildFailedError."""
    cfg = load_recipe("hybrid_test").with_overrides(base_variants=())
    with pytest.raises(WorkerFailed, match="rank 0"):
        launch(cfg, RunPaths(data=data_dir, out=tmp_path / "bad", cache=cache_dir), LaunchSpec(gpus=0, workers=2))
    err = capfd.readouterr().err
    assert "error: a hybrid recipe needs data.base_variants" in err and "Traceback" not in err


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


@pytest.mark.parametrize("damage", ["weights.safetensors", "state.pt"])
def test_a_damaged_checkpoint_falls_back_to_the_one_before(tmp_path: Path, data_dir: Path, cache_dir: Path, damage: str) -> None:
    """A truncated last checkpoint is reported and the previous one resumed from; the run
    then ends where the uninterrupted one did. Fails if --resume crashes on it instead."""
    cfg = tiny(steps=6, checkpoint_every=2)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(cfg, RunPaths(data=data_dir, out=straight, cache=cache_dir))
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), stop_after=4)
    victim = resumed / "checkpoints" / "step_0000004" / damage
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.warns(UserWarning, match="step_0000004 is damaged"):
        train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), resume=True)
    assert (straight / "weights-rank0.sha256").read_text() == (resumed / "weights-rank0.sha256").read_text()


def test_init_from_starts_at_those_weights(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    from safetensors.torch import load_file

    first, tuned = tmp_path / "first", tmp_path / "tuned"
    train(tiny(steps=2), RunPaths(data=data_dir, out=first, cache=cache_dir))
    # lr 0: the fine-tune's parameters must stay exactly where the first run left them.
    train(tiny(steps=1, lr=0.0, init_from=str(first)), RunPaths(data=data_dir, out=tuned, cache=cache_dir))
    a = load_file(str(first / "checkpoints" / "step_0000002" / "weights.safetensors"))
    b = load_file(str(tuned / "checkpoints" / "step_0000001" / "weights.safetensors"))
    params = [k for k in a if "running_" not in k and not k.endswith("initialized")]
    assert params and all(a[k].equal(b[k]) for k in params)
    # The exported model card names where the fine-tune started.
    from imfcodec.training.export import export_run

    export_run(tuned, tmp_path / "tuned.safetensors", data=data_dir)
    assert "Started from run `first` checkpoint `step_0000002` (2 steps" in (tmp_path / "tuned.md").read_text()
    with pytest.raises(CheckpointError, match="neither a checkpoint"):
        train(tiny(steps=1, init_from=str(tmp_path / "nothing")), RunPaths(data=data_dir, out=tmp_path / "x", cache=cache_dir))


def test_same_frame_pairs(data_dir: Path, cache_dir: Path) -> None:
    from imfcodec.training.data import build_frame_cache, open_frame_cache, sample_pairs

    cfg = tiny()
    cache = open_frame_cache(
        build_frame_cache(data_dir, cache_dir, cfg.model.size, cfg.data.cache_max_frames, cfg.data.keyframe_qualities, cfg.run.seed)
    )
    # Restoration: the clean frame from its degraded copy.
    ref, cur = sample_pairs(cache, 0, 0, 6, 4, 1.0, 0)
    assert not ref.equal(cur) and float((ref - cur).abs().mean()) < 0.1


def test_gan_and_ada_step(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    last = train(tiny(steps=2, lambda_gan=0.1, gan_start=0, checkpoint_every=0), RunPaths(data=data_dir, out=tmp_path, cache=cache_dir))
    assert math.isfinite(last["gan_d"]) and last["gan_d"] > 0


def test_a_large_adversarial_term_is_not_a_spike(tmp_path: Path, data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hinge generator loss is unbounded and has its own scale: the spike guard watches the
    reconstruction terms, so a discriminator that grows confident does not lock the generator
    out. Fails with the guard on the total loss: every update from the GAN's start is skipped
    while the discriminator keeps learning, and the run "diverges" (the GPU ablation's GAN
    run, docs/TRAINING.md)."""
    from imfcodec.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "hinge_g_loss", lambda logits: sum(x.mean() for x in logits) * 0 + 1e3)
    cfg = tiny(steps=6, lambda_gan=0.05, gan_start=2, max_skips_in_a_row=2, checkpoint_every=0)
    last = train(cfg, RunPaths(data=data_dir, out=tmp_path, cache=cache_dir))
    assert last["step"] == 6 and last["skipped_steps"] == 0 and last["gan_g"] == pytest.approx(1e3)


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
    from imfcodec.training.losses import StructuralLoss, perceptual_loss

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


def test_trained_seconds_counts_resumed_steps_once(tmp_path: Path) -> None:
    from imfcodec.training.export import trained_seconds

    # 10 steps per line, batch 2 × 2 workers at 4 samples/s: 10 s per line. The run was
    # killed after step 30 and resumed from its step-20 checkpoint, logging 30 and 40.
    rows = [(10, 4.0), (20, 4.0), (30, 4.0), (30, 2.0), (40, 4.0)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "samples_per_s": r, "world_size": 2}) + "\n" for s, r in rows))
    assert trained_seconds(tmp_path, 2, 40) == 10 + 10 + 20 + 10
    assert trained_seconds(tmp_path, 2, 20) == 20


def test_weight_average_resumes_exactly_and_is_exported(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    from safetensors.torch import load_file

    from imfcodec.training.export import export_run

    cfg = tiny(steps=4, checkpoint_every=2, ema_decay=0.9)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(cfg, RunPaths(data=data_dir, out=straight, cache=cache_dir))
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), stop_after=2)
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), resume=True)
    a = load_file(str(straight / "checkpoints" / "step_0000004" / "weights.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "step_0000004" / "weights.safetensors"))
    ema = [k for k in a if k.startswith("generator_ema.") and "running_" not in k and not k.endswith("initialized")]
    assert ema and all(a[k].equal(b[k]) for k in a)
    # The average's parameters differ from the live weights, and it is what export writes.
    live = "generator." + ema[0].removeprefix("generator_ema.")
    assert not a[ema[0]].equal(a[live])
    export_run(straight, tmp_path / "m.safetensors", data=data_dir)
    exported = load_file(str(tmp_path / "m.safetensors"))
    name = ema[0].removeprefix("generator_ema.model.")
    assert exported[name].equal(a[ema[0]])
    assert "exponential moving average" in (tmp_path / "m.md").read_text()


def test_config_nests_the_model_and_reads_flat_run_folders() -> None:
    from imfcodec.errors import ConfigError
    from imfcodec.training.config import TrainConfig

    cfg = tiny(steps=7, lr=1e-3)
    assert (cfg.run.steps, cfg.optim.lr, cfg.model.token_dim, cfg.model.size) == (7, 1e-3, 16, 64)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    # A config.json written before the nesting (one flat map) still resumes.
    flat = {"preset": "tiny", "size": 64, "token_dim": 16, "steps": 7, "lr": 1e-3, "batch_size": 2, "max_distance": 4}
    old = TrainConfig.from_dict(flat | {"same_frame_identity": False, "curriculum_steps": 2, "keyframe_qualities": [3, 5]})
    assert (old.run.steps, old.optim.lr, old.data.keyframe_qualities, old.model) == (7, 1e-3, (3, 5), cfg.model)
    with pytest.raises(ConfigError, match="unknown training option 'stepz'"):
        cfg.with_overrides(stepz=3)


def test_hybrid_training_runs_validates_and_resumes_exactly(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    cfg = load_recipe("hybrid_test")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    last = train(cfg, RunPaths(data=data_dir, out=straight, cache=cache_dir, val=data_dir))
    assert last["step"] == 4 and math.isfinite(last["loss"])
    val = [json.loads(line) for line in (straight / "validation.jsonl").read_text().splitlines()]
    # Validation sets the hybrid beside the bicubic base it refines, at the rate it costs.
    assert [v["step"] for v in val] == [2, 4] and all(v["val_kbps"] > 0 and math.isfinite(v["val_gain_db"]) for v in val)
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), stop_after=2)
    train(cfg, RunPaths(data=data_dir, out=resumed, cache=cache_dir), resume=True)
    assert (straight / "weights-rank0.sha256").read_text() == (resumed / "weights-rank0.sha256").read_text()


def test_a_diverged_run_stops_and_says_so(tmp_path: Path, data_dir: Path, cache_dir: Path) -> None:
    """Once every update is a spike the weights are broken: skipping to the last step would
    burn the run's hours; it stops with a one-line reason instead."""
    from imfcodec.training.trainer import TrainingDiverged

    cfg = tiny(steps=8, spike_factor=1e-9, max_skips_in_a_row=3, checkpoint_every=0)
    with pytest.raises(TrainingDiverged, match="3 updates in a row skipped by step 4"):
        train(cfg, RunPaths(data=data_dir, out=tmp_path, cache=cache_dir))


def test_hybrid_pairs_without_a_keyframe_picture() -> None:
    """no_keyframe_share = 1: every row's reference is its keyframe base picture upscaled,
    byte for byte what the decoder builds for a group without a keyframe picture (a sampler
    that kept the AV1 keyframe, or upscaled another picture, fails); 0: the keyframes, and
    the same draws as a sampler that never heard of the option."""
    from types import SimpleNamespace

    from imfcodec.codec.hybrid.decode import reference_picture
    from imfcodec.training.hybrid import sample_hybrid_pairs

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    cache = SimpleNamespace(
        frames=frames,
        refs=frames[[0, 6]] // 2,  # stand-ins for the AV1-degraded keyframes
        ref_frame=np.array([0, 6]),
        ref_clip=np.array([0, 0]),
        clip_start=np.array([0]),
        clip_length=np.array([12]),
    )
    bases = {(16, 50): rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)}
    pseudo = sample_hybrid_pairs(cache, bases, 3, 0, 4, 5, 1, no_keyframe_share=1.0)  # type: ignore[arg-type]
    for key, low in zip(pseudo["keyframe"], pseudo["keyframe_base"]):
        picture = (low.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        expected = reference_picture(picture[None], 64).astype(np.float32) / 255.0
        np.testing.assert_array_equal(key.permute(1, 2, 0).numpy(), expected)
    plain = sample_hybrid_pairs(cache, bases, 3, 0, 4, 5, 1)  # type: ignore[arg-type]
    again = sample_hybrid_pairs(cache, bases, 3, 0, 4, 5, 1, no_keyframe_share=0.0)  # type: ignore[arg-type]
    assert all(torch.equal(plain[k], again[k]) for k in plain)
    assert not torch.equal(plain["keyframe"], pseudo["keyframe"])
    refs = {cache.refs[i].tobytes() for i in range(2)} | {cache.refs[i][:, ::-1].tobytes() for i in range(2)}
    assert all((k.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8).tobytes() in refs for k in plain["keyframe"])


def test_a_fine_tune_from_a_hand_made_checkpoint_folder_exports(tmp_path: Path) -> None:
    """The model card's lineage of a run started (--init-from) from a checkpoint folder that
    is no run's step_N (weights re-keyed by hand): the folder's name, no step count. Fails if
    export parses the name as a step again (it stopped with "invalid literal for int()")."""
    from imfcodec.training.config import RunConfig, TrainConfig
    from imfcodec.training.export import _lineage

    start = tmp_path / "from-shipped"
    start.mkdir()
    (start / "weights.safetensors").write_bytes(b"")
    cfg = TrainConfig(run=RunConfig(init_from=str(start)))
    assert _lineage(cfg) == {"checkpoint": "from-shipped"}


def test_every_recipe_loads_and_round_trips_through_json(tmp_path: Path) -> None:
    """Each module in training/recipes is a TrainConfig whose JSON (a run's config.json, what
    --resume and --config FILE read) gives it back unchanged. Fails if a recipe names a preset
    or option that no longer exists, or a config field does not survive the round trip."""
    import pkgutil

    import imfcodec.training.recipes as recipes

    names = [m.name for m in pkgutil.iter_modules(recipes.__path__)]
    assert "hybrid_flow_fast_cpu" in names and "hybrid_flow_lite_cpu" in names
    for name in names:
        recipe = load_recipe(name)
        path = tmp_path / f"{name}.json"
        path.write_text(recipe.to_json())
        assert load_recipe(str(path)) == recipe, name
