"""Train several hybrid variants side by side on one GPU for a fixed wall-clock budget, then
export each: the ablations of docs/TRAINING.md (keyframe attended, warped or absent; GAN
on or off) and a candidate for the shipped hybrid model.

    python scripts/train_hybrid_variants.py --data TRAIN_DIR --out RUNS --minutes 5

Every run shares one frame cache (built first, once). A short probe with all runs in
parallel measures the step rate, and each run's step count is set from it, so the cosine
schedule ends inside the budget instead of being cut off. Runs go through `imfcodec train
--gpus 1` (torch's elastic launcher); where that cannot start, through `train()` in process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from imfcodec.training.config import TrainConfig, load_recipe

# name -> (model overrides, training overrides)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "attend": ({}, {}),
    "warp": ({"hybrid_reference": "warp"}, {}),
    "none": ({"hybrid_reference": "none"}, {}),
    "warp-gan": ({"hybrid_reference": "warp"}, {"lambda_gan": 0.05}),
    # Fine-tuning (recipe hybrid_gpu_ft, --init-from): its learning rate, a third of it, and
    # twice the batch at 4/3 of it.
    "ft": ({}, {}),
    "ft-lowlr": ({}, {"lr": 2.5e-5}),
    "ft-b32": ({}, {"batch_size": 32, "lr": 1e-4}),
    # The per-frame token beside the base (model/hybrid.py, hybrid_token_step): fine-tuned
    # from the model without one, against `ft`. λ: 3e-5 per bit is 0.1 dB for 8 bits a frame
    # (0.2 kbps at 25 fps) at L1 ≈ 0.02, the low-res front's slope at 5–8 kbps.
    "ft-token": ({"hybrid_token_step": 1.0}, {"lambda_rate": 3e-5}),
}


def variant_config(base: TrainConfig, name: str, steps: int, init_from: Path | None = None) -> TrainConfig:
    model_over, train_over = VARIANTS[name]
    cfg = dataclasses.replace(base, model=dataclasses.replace(base.model, **model_over))
    extra: dict = {"gan_start": steps // 3} if train_over.get("lambda_gan") else {}
    if init_from is not None:
        extra["init_from"] = str(init_from.resolve())
    return cfg.with_overrides(steps=steps, **train_over, **extra)


def start(cfg: TrainConfig, name: str, data: Path, out: Path, cache: Path, gpus: int, launcher: str) -> subprocess.Popen:
    run = out / name
    run.mkdir(parents=True, exist_ok=True)
    config = run.parent / f"{name}.config.json"
    config.write_text(cfg.to_json())
    log = open(out / f"{name}.log", "a")
    if launcher == "cli":
        cmd = [sys.executable, "-m", "imfcodec.cli", "train", "--config", str(config), "--data", str(data), "--out", str(run)]
        cmd += ["--cache", str(cache), "--gpus", str(gpus)]
    else:
        code = (
            "import json,sys; from pathlib import Path; from imfcodec.training.config import TrainConfig; "
            "from imfcodec.training.trainer import RunPaths, train; "
            f"train(TrainConfig.from_dict(json.loads(Path({str(config)!r}).read_text())), "
            f"RunPaths(data=Path({str(data)!r}), out=Path({str(run)!r}), cache=Path({str(cache)!r})), device={'cuda' if gpus else 'cpu'!r})"
        )
        cmd = [sys.executable, "-c", code]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def wait_all(procs: dict[str, subprocess.Popen], deadline: float) -> dict[str, int]:
    codes = {}
    for name, p in procs.items():
        try:
            codes[name] = p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.terminate()
            codes[name] = p.wait()
    return codes


def samples_per_s(run: Path) -> float:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return float(json.loads(lines[-1])["samples_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recipe", default="hybrid_gpu")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--minutes", type=float, default=5.0, help="wall-clock budget of the main runs")
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--gpus", type=int, default=1, help="0: CPU (a dry run of this script)")
    ap.add_argument("--init-from", type=Path, help="start every run from these weights (a checkpoint folder)")
    args = ap.parse_args()
    base = load_recipe(args.recipe)
    names = args.variants.split(",")
    cache = args.out / "cache"
    launcher = "cli"
    t0 = time.time()

    # 1. The shared frame cache (frames, AV1-degraded keyframes, decoded base pictures).
    probe_root = args.out / "probe"
    warm = start(variant_config(base, names[0], 1, args.init_from), "warm", args.data, probe_root, cache, args.gpus, launcher)
    if warm.wait() != 0:
        print("the launcher path failed (log in probe/warm.log); training in process", flush=True)
        launcher = "inprocess"
        warm = start(variant_config(base, names[0], 1, args.init_from), "warm2", args.data, probe_root, cache, args.gpus, launcher)
        if warm.wait() != 0:
            sys.exit("the warm-up run failed: see probe/warm2.log")
    print(f"cache ready after {time.time() - t0:.0f} s ({launcher})", flush=True)

    # 2. The step rate with every run sharing the device.
    t1 = time.time()
    probes = {
        n: start(variant_config(base, n, args.probe_steps, args.init_from), n, args.data, probe_root, cache, args.gpus, launcher)
        for n in names
    }
    wait_all(probes, t1 + 600)
    rates = {n: samples_per_s(probe_root / n) / variant_config(base, n, 1).data.batch_size for n in names}
    print(f"probe {time.time() - t1:.0f} s; steps/s with {len(names)} runs in parallel: {rates}", flush=True)

    # 3. The runs, each sized to end inside the budget (the slowest sets nothing for the others).
    budget = args.minutes * 60
    t2 = time.time()
    steps = {n: max(base.optim.warmup_steps + 10, int(rates[n] * budget * 0.9)) for n in names}
    print(f"steps: {steps}", flush=True)
    procs = {n: start(variant_config(base, n, steps[n], args.init_from), n, args.data, args.out, cache, args.gpus, launcher) for n in names}
    codes = wait_all(procs, t2 + budget * 1.25)
    print(f"runs done in {time.time() - t2:.0f} s, exit codes {codes}", flush=True)


if __name__ == "__main__":
    main()
