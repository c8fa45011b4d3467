"""Other models on a benchmark's own files, against its fronts: the imfcodec records of an
`imfcodec bench` run (results.json) with PSNR-RGB and VMAF replaced by what another model
decodes from the same files (scripts/same_base_models.py's JSON lines), then the bench's own
per-clip BD (bench/summary.per_clip_bd) for each model and for the base bicubic upscaled,
and per `--bitrate` point the bench's own distance to the front at the same rate.
The files' bits do not depend on the model, so the rates are the bench's.

    python scripts/same_base_models.py --clips DEV --models imf-hybrid-v3 OUT/work/*-bitrate_kbps*.imf > v3.jsonl
    python scripts/models_on_front.py OUT/results.json v3.jsonl [--plot fronts.png]
    python scripts/models_on_front.py OUT/work --fills repeat,linear      # a run still going; the front without motion

RESULTS is a results.json or a bench's work folder (its per-job *.records.json, for the
clips finished so far); `--fills` keeps only the front's layers filled those ways;
`--extra-records` adds anchor records made since (scripts/timed_anchors.py); `--own-rates`
takes each row's file at its own rate, for files the bench did not write (another encoder).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from imfcodec.bench.summary import curves, per_clip_bd, with_fronts

FRONT = "svtav1-lowres-ra-front"


def point_of(file_name: str) -> tuple[str, float]:
    """ "edtalk-mouth_source-bitrate_kbps4.0.imf" -> ("edtalk-mouth_source", 4.0)."""
    match = re.fullmatch(r"(.+)-bitrate_kbps([0-9.]+)\.imf", file_name)
    if match is None:
        raise SystemExit(f"not a bench file name: {file_name}")
    return match[1], float(match[2])


def load_records(path: Path) -> list[dict[str, Any]]:
    """A results.json's records, or every record of a work folder's finished jobs, of the
    clips that have imfcodec points."""
    if path.is_dir():
        records = [r for f in sorted(path.glob("*.records.json")) for r in json.loads(f.read_text())]
    else:
        records = json.loads(path.read_text())["records"]
    clips = {r["clip"] for r in records if r["codec"] == "imfcodec"}
    unique = {json.dumps([r["codec"], r["clip"], r["point"]], sort_keys=True): r for r in records if r["clip"] in clips}
    return list(unique.values())  # a point coded again (the codec's sources changed, same bytes) counts once


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path, help="an imfcodec bench results.json, or its work folder")
    parser.add_argument("rows", type=Path, nargs="*", help="same_base_models.py output (its JSON lines)")
    parser.add_argument("--fills", help="comma-separated: the front's layers filled only these ways")
    parser.add_argument("--clips", help="comma-separated: only these clips (a running bench's finished ones)")
    parser.add_argument("--plot", type=Path, help="PNG: per clip, the front and each model's PSNR against rate")
    parser.add_argument(
        "--extra-records", type=Path, action="append", default=[], help="more anchor records, JSON lines (scripts/timed_anchors.py)"
    )
    parser.add_argument("--own-rates", action="store_true", help="the rows' files are not the bench's: their own rates (the rows' kbps)")
    args = parser.parse_args()
    records = load_records(args.results)
    for path in args.extra_records:
        records += [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    if args.clips:
        records = [r for r in records if r["clip"] in args.clips.split(",")]
    if args.fills:
        fills = tuple(args.fills.split(","))
        records = [r for r in records if "fill" not in r["point"] or r["point"]["fill"] in fills]
    mine = {(r["clip"], float(r["point"]["bitrate_kbps"])): r for r in records if r["codec"] == "imfcodec"}
    others: dict[str, list[dict[str, Any]]] = {}
    for path in args.rows:
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue  # the script's closing means
            row = json.loads(line)
            record = mine.get(point_of(row["file"]))
            if record is None:
                continue
            for model in (k for k in row if isinstance(row[k], dict)):
                name = "own base, bicubic" if model == "bicubic" else model
                rates = {"kbps": row["kbps"], "file_kbps": row["kbps"]} if args.own_rates else {}
                others.setdefault(name, []).append(
                    {**record, **rates, "codec": name, "psnr_rgb": row[model]["psnr"], "vmaf": row[model]["vmaf"]}
                )
    anchors = [r for r in records if r["codec"] != "imfcodec"]
    print(f"| clip | {' | '.join(['imfcodec (the bench)', *others])} |")
    print("|---|" + "---|" * (1 + len(others)))
    results = {"imfcodec (the bench)": per_clip_bd(records)}
    results |= {name: per_clip_bd(anchors + rows, mine=name) for name, rows in others.items()}
    clips = sorted(results["imfcodec (the bench)"]["clips"])

    def cell(bd: dict[str, Any] | None) -> str:
        if not bd or bd.get("bd_psnr_db") is None:
            return "no overlap"
        vmaf = "n/a" if bd["bd_vmaf"] is None else f"{bd['bd_vmaf']:+.1f}"
        rate = "n/a" if bd["bd_rate_percent"] is None else f"{bd['bd_rate_percent']:+.1f} %"
        return f"{bd['bd_psnr_db']:+.2f} dB / {vmaf} / {rate}"

    for clip in clips:
        print(f"| {clip} | " + " | ".join(cell(r["clips"].get(clip, {}).get(FRONT)) for r in results.values()) + " |")
    print("| **mean of clips** | " + " | ".join(cell(r["mean"].get(FRONT)) for r in results.values()) + " |")
    gaps_per_point([r for r in records if r["codec"] == "imfcodec"], anchors, "imfcodec (the bench)")
    for name, rows in others.items():
        gaps_per_point(rows, anchors, name)
    if args.plot:
        plot_fronts(anchors, {"imfcodec (the bench)": [r for r in records if r["codec"] == "imfcodec"], **others}, args.plot)


def fronts(anchors: list[dict[str, Any]], metric: str = "psnr_rgb") -> dict[str, tuple[list[float], list[float]]]:
    """The like-for-like front of each clip, (kbps, `metric`) in rate order, from the anchors'
    records that measured `metric` (every layer variant the bench coded)."""
    measured = [r for r in anchors if metric in r]  # extra records may carry PSNR alone
    return {clip: with_fronts(by_codec)[FRONT] for clip, by_codec in curves(measured, metric).items() if clip != "mean"}


def front_at(front: tuple[list[float], list[float]], kbps: float) -> float | None:
    """A front's value at `kbps`: linear in log-rate between its two points around it; None
    outside the front's range."""
    rates, values = front
    if not rates or not rates[0] <= kbps <= rates[-1]:
        return None
    return float(np.interp(np.log(kbps), np.log(rates), values))


def gaps_per_point(rows: list[dict[str, Any]], anchors: list[dict[str, Any]], name: str) -> None:
    """Per `--bitrate` point, the mean over clips of one codec's `rows` (the bench's imfcodec
    records, or a model's on the same files) minus the front at the same rate, PSNR and
    VMAF (where it leads the front, if anywhere), beside its mean PSNR and VMAF."""
    psnr_fronts, vmaf_fronts = fronts(anchors), fronts(anchors, "vmaf")
    by_rate: dict[float, list[tuple[float, float, float, float]]] = {}
    for r in rows:
        psnr = front_at(psnr_fronts[r["clip"]], r["kbps"])
        vmaf = front_at(vmaf_fronts[r["clip"]], r["kbps"])
        if psnr is not None and vmaf is not None:
            gap = (r["psnr_rgb"] - psnr, r["vmaf"] - vmaf, r["psnr_rgb"], r["vmaf"])
            by_rate.setdefault(float(r["point"]["bitrate_kbps"]), []).append(gap)
    print(f"\n{name}:\n\n| `--bitrate` | clips | PSNR minus the front at the same rate | VMAF minus the front | PSNR-RGB | VMAF |")
    print("|---|---|---|---|---|---|")
    for rate, gaps in sorted(by_rate.items()):
        d = np.asarray(gaps)
        spread = f"({d[:, 0].min():+.2f} … {d[:, 0].max():+.2f})"
        print(
            f"| {rate:g} | {len(d)} | {d[:, 0].mean():+.2f} dB {spread} | {d[:, 1].mean():+.1f} | {d[:, 2].mean():.2f} | {d[:, 3].mean():.1f} |"
        )


def plot_fronts(anchors: list[dict[str, Any]], models: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """One panel per clip: the like-for-like front (dashed) and each model's points, PSNR-RGB
    against kbps (log): the bench's own plot draws every layer variant and cannot be read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clips = sorted({r["clip"] for rows in models.values() for r in rows})
    psnr_fronts = fronts(anchors)
    fig, axes = plt.subplots(2, (len(clips) + 1) // 2, figsize=(4 * ((len(clips) + 1) // 2), 6.4), squeeze=False)
    for ax, clip in zip(axes.flat, clips):
        rates, values = psnr_fronts[clip]
        ax.plot(rates, values, "k--", linewidth=1, label="like-for-like front (SVT-AV1, every layer)")
        for name, rows in models.items():
            mine = sorted((r["kbps"], r["psnr_rgb"]) for r in rows if r["clip"] == clip)
            ax.plot([k for k, _ in mine], [d for _, d in mine], "-o", markersize=3, label=name)
        lo = min(r["kbps"] for rows in models.values() for r in rows if r["clip"] == clip)
        hi = max(r["kbps"] for rows in models.values() for r in rows if r["clip"] == clip)
        ax.set_xscale("log")
        ax.set_xlim(lo * 0.85, hi * 1.15)
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([2, 3, 4, 5, 6, 8, 10]))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        inside = [v for k, v in zip(rates, values) if lo * 0.85 <= k <= hi * 1.15]
        ys = inside + [r["psnr_rgb"] for rows in models.values() for r in rows if r["clip"] == clip]
        ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
        ax.set_title(clip, fontsize=9)
        ax.set_xlabel("kbps")
        ax.set_ylabel("PSNR-RGB (dB)")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(clips) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main()
