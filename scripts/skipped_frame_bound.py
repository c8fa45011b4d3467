"""What motion sent for the frames a base layer skips could be worth at most (issue 21's
item 5: IMF's per-frame token as the motion of those frames, about 30 bits a frame).

For each hybrid .imf file given whose layer skips pictures (e.g. the ones `imfcodec bench`
leaves in OUT/work), each skipped frame's base picture is drawn three ways from the same two
decoded neighbours:

  - as the file draws it (HEAD `bf`: the motion fill guesses the motion from the neighbours
    alone, or the blend),
  - by the *true* motion: DIS flow from the source frame itself (area-downscaled to the base
    side, uncoded) to each decoded neighbour, each neighbour warped along it and the two
    mixed by distance as the motion fill mixes them. That is dense flow at every pixel, sent
    at no cost: more than any token of tens of bits can carry, so an upper bound on what
    motion side information can add to this fill,
  - as above, and the better of the two warped neighbours kept per frame (an oracle choice
    too: a bound, not a method),
  - a token-sized message instead: the motion fill's own linear-motion flows, corrected by
    one displacement field common to both neighbours, sent on a G×G grid (the true flows'
    departure from linear motion, averaged per cell, quantized to Q pixels at the base
    side, upsampled bilinearly; all zeros where it would not bring the picture nearer the
    source: the encoder has the source and checks), or (`--timing`) each skipped frame's time between its
    neighbours, in eighths, chosen by the encoder. Its rate is the zero-order entropy of the quantized values
    over the file, in bits a skipped frame and kbps: what an adaptive arithmetic coder would
    spend at best, without the tables' cost.

Each is bicubic upscaled (the base alone) and given to the model; PSNR-RGB against the 256²
source on the skipped frames and on all frames. The bound to beat is what the same bits
spent on the base layer buy (docs/BENCHMARKS.md).

    python scripts/skipped_frame_bound.py --clips DEV_DIR --model imf-hybrid-v4 OUT/work/*-bitrate_kbps4.0.imf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from imfcodec.bench.metrics import psnr_rgb_per_frame
from imfcodec.bench.reference import reference_of_file
from imfcodec.codec.decoder import read_imf
from imfcodec.codec.hybrid.base_layer import downscale
from imfcodec.codec.hybrid.decode import base_fill, base_layer_timing, decode_hybrid_group, group_base_pictures, upsampled_frames
from imfcodec.codec.hybrid.motion_fill import _luma, _warp, frames_between
from imfcodec.model.weights import load_weights, resolve_model


def true_motion_fill(filled: np.ndarray, truth: np.ndarray, step: int, best_side: bool) -> np.ndarray:
    """filled (T, B, B, 3): a group's base pictures as the file fills them (the coded ones at
    every step-th frame); truth (T, B, B, 3): the source at the base side. Each skipped frame
    between two coded pictures redrawn along the true flow from it to each of them, mixed by
    distance, or (best_side) the warped neighbour nearer the truth alone."""
    out = filled.copy()
    for t, j, path in frames_between(filled[::step], len(filled), step):
        lt = _luma(truth[t])
        wa = _warp(path.a, path.dis.calc(lt, _luma(path.a), None), path.grid)  # type: ignore[attr-defined]
        wb = _warp(path.b, path.dis.calc(lt, _luma(path.b), None), path.grid)  # type: ignore[attr-defined]
        if best_side:
            mixed = min((wa, wb), key=lambda x: float(np.mean((x - truth[t]) ** 2)))
        else:
            mixed = (1 - j / step) * wa + j / step * wb
        out[t] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


def token_motion_fill(filled: np.ndarray, truth: np.ndarray, step: int, grid: int, quantum: float) -> tuple[np.ndarray, np.ndarray]:
    """The motion fill with a per-frame correction on a grid×grid field (see the module's
    docstring): (pictures (T, B, B, 3), the quantized tokens (skipped frames, grid, grid, 2) int)."""
    import cv2

    out = filled.copy()
    side = filled.shape[1]
    tokens = []
    for t, j, path in frames_between(filled[::step], len(filled), step):
        w = j / step
        to_a, to_b = path.flows_at(w)
        lt = _luma(truth[t])
        departure = 0.5 * (
            (path.dis.calc(lt, _luma(path.a), None) - to_a) + (path.dis.calc(lt, _luma(path.b), None) - to_b)  # type: ignore[attr-defined]
        )
        token = np.round(cv2.resize(departure, (grid, grid), interpolation=cv2.INTER_AREA) / quantum).astype(np.int32)
        field = cv2.resize((token * quantum).astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
        mixed, plain = path.mixed(w, to_a + field, to_b + field), path.mixed(w, to_a, to_b)
        if np.mean((mixed - truth[t]) ** 2) >= np.mean((plain - truth[t]) ** 2):
            token[:], mixed = 0, plain  # the encoder checks: a correction that does not help is not sent
        tokens.append(token)
        out[t] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out, np.asarray(tokens).reshape(-1, grid, grid, 2)


TIMES = 8  # the timing token's grid: the frame's time between its coded neighbours in eighths


def timing_motion_fill(filled: np.ndarray, truth: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The motion fill with each skipped frame's time between its neighbours chosen by the
    encoder (the picture nearest the truth of the fill at times 0, 1/8, ..., 1) instead of its
    place (j / step): a token of a few bits for motion that is not uniform (a mouth that
    opens and holds). (pictures (T, B, B, 3), the tokens: the chosen eighth minus the one
    nearest j / step, per skipped frame). The codec's timed fill (motion_fill.py) sends
    offsets from j / step instead, and searches them locally."""
    out = filled.copy()
    tokens = []
    for t, j, path in frames_between(filled[::step], len(filled), step):
        errors = [np.mean((path.at(i / TIMES).astype(np.float32) - truth[t]) ** 2) for i in range(TIMES + 1)]
        chosen = int(np.argmin(errors))
        tokens.append(chosen - round(j / step * TIMES))
        out[t] = path.at(chosen / TIMES)
    return out, np.asarray(tokens, np.int32).reshape(-1, 1)


def entropy_bits(values: np.ndarray) -> float:
    """Zero-order entropy of the integers `values`, in bits each."""
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--clips", type=Path, required=True, help="the folder of the clips the files were coded from (by stem)")
    parser.add_argument("--model", default="imf-hybrid-v4")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument(
        "--tokens", default="1:0.5,2:0.5,4:0.5", help="token shapes GRID:QUANTUM (pixels at the base side), comma-separated"
    )
    parser.add_argument("--timing", action="store_true", help="also the timing token (each skipped frame's time chosen in eighths)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_weights(resolve_model(args.model))
    rows = []
    for path in sorted(args.files):
        imf = read_imf(path)
        step, low_delay = base_layer_timing(imf)
        if step == 1:
            continue
        side, size = int(imf.header["base_size"]), int(imf.header["size"])
        source, _ = reference_of_file(path, args.clips, args.frames, size)
        low = downscale(source, side)
        ways: dict[str, list[np.ndarray]] = {"file": [], "true_motion": [], "true_motion_best_side": []}
        shapes = [(int(g), float(q)) for g, q in (item.split(":") for item in args.tokens.split(",") if item)]
        sent: dict[str, list[np.ndarray]] = {}
        skipped = []
        for g in imf.groups:
            filled = group_base_pictures(imf, g)
            truth = low[g.first_frame : g.first_frame + g.frame_count]
            ways["file"].append(filled)
            ways["true_motion"].append(true_motion_fill(filled, truth, step, best_side=False))
            ways["true_motion_best_side"].append(true_motion_fill(filled, truth, step, best_side=True))
            for grid, quantum in shapes:
                pictures, tokens = token_motion_fill(filled, truth, step, grid, quantum)
                ways.setdefault(f"token{grid}x{grid}q{quantum}", []).append(pictures)
                sent.setdefault(f"token{grid}x{grid}q{quantum}", []).append(tokens)
            if args.timing:
                pictures, tokens = timing_motion_fill(filled, truth, step)
                ways.setdefault("timing", []).append(pictures)
                sent.setdefault("timing", []).append(tokens)
            t = np.arange(g.frame_count)
            skipped.append((t % step != 0) & (t <= (g.frame_count - 1) // step * step))
        mask = np.concatenate(skipped)
        row: dict[str, object] = {"file": path.name, "step": step, "fill": base_fill(imf), "skipped": int(mask.sum())}
        seconds = len(source) * int(imf.header["fps_den"]) / int(imf.header["fps_num"])
        for name, tokens in sent.items():
            values = np.concatenate(tokens)
            bits = entropy_bits(values) * values[0].size
            row[f"{name}_bits_per_skipped_frame"] = round(bits, 1)
            row[f"{name}_kbps"] = round(bits * len(values) / seconds / 1000, 3)
        for name, groups in ways.items():
            base = upsampled_frames(np.concatenate(groups), size)
            net = np.concatenate([decode_hybrid_group(loaded.model, None, p, 16, torch.device("cpu"), step, low_delay) for p in groups])
            for label, frames in (("base", base), ("model", net)):
                psnr = psnr_rgb_per_frame(source, frames)
                row[f"{name}_{label}_all"] = round(float(psnr.mean()), 3)
                row[f"{name}_{label}_skipped"] = round(float(psnr[mask].mean()), 3)
                row[f"{name}_{label}_coded"] = round(float(psnr[~mask].mean()), 3)
        print(json.dumps(row), flush=True)
        rows.append(row)
    keys = [k for k in rows[0] if k.endswith(("_all", "_skipped", "_coded", "_frame", "_kbps"))] if rows else []
    print(json.dumps({"mean_of": len(rows), **{k: round(float(np.mean([r[k] for r in rows])), 2) for k in keys}}))


if __name__ == "__main__":
    main()
