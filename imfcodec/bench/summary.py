"""Summaries of RD curves: BD-rate / BD-PSNR over the overlapping range, lowest rates, plots."""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..codec.hybrid.base_layer import BASE_FILLS


def overlap(rates_a: list[float], rates_b: list[float]) -> tuple[float, float] | None:
    """The rate interval both curves cover, or None."""
    lo, hi = max(min(rates_a), min(rates_b)), min(max(rates_a), max(rates_b))
    return (lo, hi) if lo < hi else None


def bd_rate(anchor: tuple[list[float], list[float]], test: tuple[list[float], list[float]]) -> float | None:
    """Bjøntegaard delta rate (%) of `test` vs `anchor`, (kbps, dB) pairs, pchip, over the
    PSNR range both curves cover; None when they do not overlap or have under 4 points."""
    import bjontegaard as bd

    if len(anchor[0]) < 4 or len(test[0]) < 4:
        return None
    if min(max(anchor[1]), max(test[1])) <= max(min(anchor[1]), min(test[1])):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bd.bd_rate(*_sorted(anchor), *_sorted(test), method="pchip", require_matching_points=False, min_overlap=0))


def bd_psnr(anchor: tuple[list[float], list[float]], test: tuple[list[float], list[float]]) -> float | None:
    """Bjøntegaard delta PSNR (dB) over the rate range both curves cover."""
    import bjontegaard as bd

    if len(anchor[0]) < 4 or len(test[0]) < 4 or overlap(anchor[0], test[0]) is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bd.bd_psnr(*_sorted(anchor), *_sorted(test), method="pchip", require_matching_points=False, min_overlap=0))


def _sorted(curve: tuple[list[float], list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Sort by rate and keep the convex-ish monotone part (pchip needs increasing PSNR)."""
    r, d = np.asarray(curve[0], float), np.asarray(curve[1], float)
    order = np.argsort(r)
    r, d = r[order], d[order]
    keep = [0]
    for i in range(1, len(r)):
        if d[i] > d[keep[-1]] and r[i] > r[keep[-1]]:
            keep.append(i)
    return r[keep], d[keep]


def curves(records: list[dict[str, Any]], metric: str = "psnr_rgb") -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """{clip: {codec: (kbps list, metric list)}} plus a 'mean' clip averaged per point index."""
    out: dict[str, dict[str, tuple[list[float], list[float]]]] = defaultdict(dict)
    for r in records:
        rates, values = out[r["clip"]].setdefault(r["codec"], ([], []))
        rates.append(r["kbps"])
        values.append(r[metric])
    by_codec: dict[str, list[tuple[list[float], list[float]]]] = defaultdict(list)
    for clip in list(out):
        for codec, curve in out[clip].items():
            by_codec[codec].append(curve)
    n_clips = len(out)  # before "mean" joins the dict
    for codec, cs in by_codec.items():
        n = min(len(c[0]) for c in cs)
        if len(cs) == n_clips:
            out["mean"][codec] = (
                [float(np.mean([c[0][i] for c in cs])) for i in range(n)],
                [float(np.mean([c[1][i] for c in cs])) for i in range(n)],
            )
    return dict(out)


# Low-resolution anchor variants by prediction structure: "svtav1-lowres-96-s1-repeat",
# "svtav1-lowres-ra-128-s4-linear" (bench/layer_anchor.py).
FILLS = "|".join(BASE_FILLS)  # a layer anchor's variants: every fill the codec can name
LOWRES_FRONTS = {
    "svtav1-lowres-front": re.compile(rf"^svtav1-lowres-\d+-s\d+-({FILLS})$"),
    "svtav1-lowres-ra-front": re.compile(rf"^svtav1-lowres-ra-\d+-s\d+-({FILLS})$"),
    "vvenc-lowres-front": re.compile(rf"^vvenc-lowres-\d+-s\d+-({FILLS})$"),
    # The best conventional codec at each rate, whatever it is: every anchor (random access
    # may use the low-delay streams too), and for low-delay points the low-delay anchors only.
    "conventional-best": re.compile(r"^(x264|x265|svtav1|vvenc)"),
    "conventional-best-low-delay": re.compile(r"^(x264$|x265$|svtav1$|svtav1-lowres-\d)"),
}


def pareto_front(curves_: list[tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """The best of several (kbps, dB) curves at each rate: every point no other point beats
    with a lower or equal rate and a higher PSNR, in rate order."""
    points = sorted(((r, d) for rates, values in curves_ for r, d in zip(rates, values)), key=lambda p: (p[0], -p[1]))
    front: list[tuple[float, float]] = []
    for r, d in points:
        if not front or d > front[-1][1]:
            front.append((r, d))
    return [r for r, _ in front], [d for _, d in front]


def with_fronts(mean: dict[str, tuple[list[float], list[float]]]) -> dict[str, tuple[list[float], list[float]]]:
    """`mean` plus the low-resolution anchor's Pareto front in each structure it has variants in."""
    out = dict(mean)
    for front, pattern in LOWRES_FRONTS.items():
        members = [c for name, c in mean.items() if pattern.match(name)]
        if members:
            out[front] = pareto_front(members)
    return out


def plot(records: list[dict[str, Any]], path: Path, metric: str = "psnr_rgb", label: str = "PSNR-RGB (dB)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    data = curves(records, metric)
    clips = [c for c in data if c != "mean"] + (["mean"] if "mean" in data else [])
    cols = min(4, len(clips))
    rows = (len(clips) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, clip in zip(axes.flat, clips):
        for codec, (r, d) in sorted(data[clip].items()):
            order = np.argsort(r)
            style = "-" if codec == "imfcodec" else "--"
            ax.plot(
                np.asarray(r)[order],
                np.asarray(d)[order],
                style,
                marker="o",
                markersize=3,
                label=codec,
                linewidth=1.8 if codec == "imfcodec" else 1,
            )
        ax.set_xscale("log")
        # Label 2 and 5 within each decade too: a decade per tick is too coarse to read rates off.
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(clip, fontsize=9)
        ax.set_xlabel("kbps")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(clips) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)


# The fronts each clip's imfcodec curve is judged against on its own points: the
# like-for-like layer front (imfcodec's own base layer by SVT-AV1, every shape), the same
# shapes by VVenC, and the best conventional codec of all.
PER_CLIP_FRONTS = ("svtav1-lowres-ra-front", "vvenc-lowres-front", "conventional-best")


def per_clip_bd(records: list[dict[str, Any]], mine: str = "imfcodec") -> dict[str, Any]:
    """{"clips": {clip: {front: {bd_psnr_db, bd_vmaf, bd_rate_percent}}}, "mean": {front: ...}}:
    BD of `mine` against each PER_CLIP_FRONTS front built from the clip's own points (a
    sweep may hold different layer shapes per clip, so a mean curve across clips would
    lose them), and the mean of each value over the clips that have it (None: none has)."""
    psnr = curves(records)
    vmaf_ = curves(records, "vmaf") if all("vmaf" in r for r in records) else {}
    clips: dict[str, dict[str, dict[str, float | None]]] = {}
    for clip, by_codec in psnr.items():
        if clip == "mean" or mine not in by_codec:
            continue
        fronts, fronts_vmaf = with_fronts(by_codec), with_fronts(vmaf_.get(clip, {}))
        clips[clip] = {
            front: {
                "bd_psnr_db": bd_psnr(fronts[front], fronts[mine]),
                "bd_vmaf": bd_psnr(fronts_vmaf[front], fronts_vmaf[mine]) if front in fronts_vmaf else None,
                "bd_rate_percent": bd_rate(fronts[front], fronts[mine]),
            }
            for front in PER_CLIP_FRONTS
            if front in fronts
        }
    mean: dict[str, dict[str, float | None]] = {}
    for front in [f for f in PER_CLIP_FRONTS if any(f in c for c in clips.values())]:
        for key in ("bd_psnr_db", "bd_vmaf", "bd_rate_percent"):
            values = [v for c in clips.values() if front in c and (v := c[front][key]) is not None]
            mean.setdefault(front, {})[key] = float(np.mean(values)) if values else None
    return {"clips": clips, "mean": mean}
