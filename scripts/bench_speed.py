"""Model speed: encode-side and decode-side frames/s per preset, parameters and GMAC per module.

    python scripts/bench_speed.py [--presets tiny,small,paper] [--threads 2] [--device cpu] [--json out.json]

Encode side = ET on each frame (what the encoder runs per frame besides its in-loop decode).
Decode side = IMFD + IMFA + DF against a cached reference (ReferenceState built once).
GMAC per frame counted by torch's FlopCounterMode (MAC = FLOP / 2) for one 256² frame.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from imfcodec.model import IMF, count_parameters, preset


def timed(fn, frames: int, min_seconds: float = 3.0) -> float:
    """Frames per second of fn() (which handles `frames` frames), after one warm-up call."""
    fn()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        fn()
        done += frames
    return done / (time.perf_counter() - t0)


def gmacs(model: IMF, x: torch.Tensor) -> dict[str, float]:
    state = model.prepare_reference(x)
    token = model.encode_tokens(x)
    out: dict[str, float] = {}
    for name, fn in {
        "EF (per keyframe)": lambda: model.feature_encoder(x),
        "ET (per frame)": lambda: model.encode_tokens(x),
        "IMFD (per frame)": lambda: model.token_decoder(token),
        "decode total: IMFD+IMFA+DF (per frame)": lambda: model.decode(state, token),
        "prepare_reference (per keyframe)": lambda: model.prepare_reference(x),
    }.items():
        counter = FlopCounterMode(display=False)
        with torch.enable_grad(), counter:  # its module tracker needs autograd on
            fn()
        out[name] = counter.get_total_flops() / 2e9
    return out


@torch.no_grad()
def bench(name: str, device: str, dtype: torch.dtype, batches: list[int]) -> dict:
    torch.manual_seed(0)
    model = IMF(preset(name)).to(device=device, dtype=dtype).eval()
    size = model.config.size
    params = {k: count_parameters(v) / 1e6 for k, v in model.named_children()}
    result: dict = {
        "preset": name,
        "params_M": round(count_parameters(model) / 1e6, 2),
        "params_M_by_module": {k: round(v, 2) for k, v in params.items()},
    }
    x1 = torch.rand(1, 3, size, size, device=device, dtype=dtype)
    if device == "cpu" and dtype == torch.float32:
        result["gmac_per_frame"] = {k: round(v, 3) for k, v in gmacs(model, x1).items()}
    state = model.prepare_reference(x1)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for b in batches:
        xb = torch.rand(b, 3, size, size, device=device, dtype=dtype)
        tokens = model.encode_tokens(xb)

        def enc(xb: torch.Tensor = xb) -> None:
            model.encode_tokens(xb)
            sync()

        def dec(tokens: torch.Tensor = tokens) -> None:
            model.decode(state, tokens)
            sync()

        result[f"encode_fps_b{b}"] = round(timed(enc, b), 1)
        result[f"decode_fps_b{b}"] = round(timed(dec, b), 1)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="tiny,small,paper")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    machine = (
        torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or platform.machine()}, {args.threads} threads"
    )
    rows = []
    for name in args.presets.split(","):
        r = bench(name, args.device, dtype, [int(b) for b in args.batches.split(",")])
        r["machine"] = machine
        r["torch"] = torch.__version__
        print(json.dumps(r))
        rows.append(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
