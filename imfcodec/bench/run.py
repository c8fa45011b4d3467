"""`imfcodec bench`: imfcodec operating points and the anchors on the same reference clips."""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from imfcodec.bitstream.container import ImfFile

from .. import atomic
from ..atomic import atomic_path
from ..codec.decoder import iter_decoded_frames, read_imf
from ..codec.encoder import EncodeOptions, encode_video
from ..codec.hybrid.decode import group_base_pictures, upsampled_frames
from ..codec.options import is_hybrid
from ..errors import ConfigError
from ..model.weights import LoadedModel, load_weights, resolve_model
from ..rate import kbps
from .anchors import ANCHORS
from .jobs import anchor_jobs, anchor_points
from .layer_anchor import LAYER_ANCHORS, LAYER_STEPS, layer_fills
from .metrics import MS_SSIM_MIN_SIDE, ms_ssim_per_frame, psnr_rgb_per_frame, psnr_yuv_per_frame
from .reference import prepare_reference
from .summary import PER_CLIP_FRONTS, bd_psnr, bd_rate, curves, per_clip_bd, plot, with_fronts
from .vmaf import ffmpeg_binary, vmaf
from .vvc_anchor import VVC_ANCHORS

MS_SSIM_STRIDE = 5
RATE_CEILING = 1.5  # a layer anchor's sweep stops above this × the clip's highest imfcodec rate


# The sources whose change can change an imfcodec file or its decoding: a cached imfcodec
# point is named by their hash as well as the model's id, so a bench after an encoder change
# codes its points again instead of reading back the last encoder's.
CODEC_SOURCES = ("codec", "bitstream", "model", "frames.py", "rate.py")


def codec_fingerprint(root: Path = Path(__file__).resolve().parent.parent) -> str:
    """12 hex digits of SHA-256 over CODEC_SOURCES' Python files under `root` (the package)."""
    digest = hashlib.sha256()
    for name in CODEC_SOURCES:
        for path in sorted((root / name).rglob("*.py")) if (root / name).is_dir() else [root / name]:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def _flag(text: str) -> bool:
    if text not in ("0", "1", "true", "false"):
        raise ConfigError(f"--points: {text!r} is not a flag (0, 1, true or false)")
    return text in ("1", "true")


# Each key is an EncodeOptions field; the hybrid mode's take a hybrid --model.
POINT_KEYS: dict[str, Callable[[str], Any]] = {
    "quality": int,
    "refresh_psnr": float,
    "max_keyframe_interval": int,
    "base_size": int,
    "base_crf": int,
    "base_step": int,
    "low_delay": _flag,
    "bitrate_kbps": float,
    "keyframe_codec": str,
}


def parse_points(spec: str) -> list[dict[str, Any]]:
    """'quality=2,refresh_psnr=24;quality=4' -> [{'quality': 2, 'refresh_psnr': 24.0}, {'quality': 4}]."""
    points = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        point: dict[str, Any] = {}
        for item in part.split(","):
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in POINT_KEYS:
                raise ConfigError(f"--points: unknown key {key!r} (use {', '.join(POINT_KEYS)})")
            try:
                point[key] = POINT_KEYS[key](value)
            except ValueError:
                raise ConfigError(f"--points: {key}={value!r} is not a number") from None
        points.append(point)
    return points


def measure(reference: np.ndarray, decoded: np.ndarray, fps: float = 25.0) -> dict[str, float]:
    """Mean per-frame metrics of decoded (T, S, S, 3) against the reference: PSNR-RGB,
    PSNR-YUV, MS-SSIM, VMAF (vmaf_v0.6.1 and its neg model)."""
    if decoded.shape != reference.shape:
        raise ValueError(f"decoded {decoded.shape} vs reference {reference.shape}")
    out = {
        "psnr_rgb": float(psnr_rgb_per_frame(reference, decoded).mean()),
        "psnr_yuv": float(psnr_yuv_per_frame(reference, decoded).mean()),
    }
    # MS-SSIM costs ~50 ms a frame on a CPU: measured on every MS_SSIM_STRIDE-th frame.
    sub = slice(None, None, MS_SSIM_STRIDE)
    out["ms_ssim"] = (
        float(ms_ssim_per_frame(reference[sub], decoded[sub]).mean()) if min(reference.shape[1:3]) >= MS_SSIM_MIN_SIDE else float("nan")
    )
    return out | vmaf(reference, decoded, fps)


def run_bench(
    videos: list[Path],
    model: str | None,
    points: str,
    anchors: list[str],
    frames: int,
    size: int,
    out: Path,
    device: str = "cpu",
    quiet: bool = False,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    console = console or Console(stderr=True)
    parsed = parse_points(points) if points.strip() else []
    for a in anchors:
        if a not in ANCHORS and a not in LAYER_ANCHORS and a not in VVC_ANCHORS:
            raise ConfigError(f"unknown anchor {a!r}; known: {', '.join([*ANCHORS, *LAYER_ANCHORS, *VVC_ANCHORS])}")
        if a in VVC_ANCHORS:
            ffmpeg_binary()  # a one-line error now, not after the first clip's other encodes
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    loaded = load_weights(resolve_model(model), device) if parsed else None
    if loaded is not None and loaded.model.config.size != size:
        raise ConfigError(f"--size {size}: the model codes {loaded.model.config.size}² frames")
    jobs: list[tuple[str, Any]] = [("imfcodec", p) for p in parsed] + anchor_jobs(anchors, LAYER_STEPS)
    fingerprint = codec_fingerprint()
    records: list[dict[str, Any]] = []
    with Progress(
        TextColumn("bench {task.fields[what]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, disable=quiet
    ) as bar:
        total = len(jobs) * len(videos)
        task = bar.add_task("bench", total=total, what="")
        for video in videos:
            reference, fps, ref_file = prepare_reference(video, frames, size, out / "references")
            n = len(reference)
            clip_jobs, extra_steps = list(jobs), set()
            top_rate, past_ceiling = 0.0, set()  # the clip's highest imfcodec rate so far
            while clip_jobs:
                kind, arg = clip_jobs.pop(0)
                bar.update(task, what=f"{video.stem} {kind} {arg}")
                # A layer sweep runs from its lowest rate up: once a setting of a layer shape
                # costs over RATE_CEILING × the highest imfcodec rate, the shape's finer
                # settings cannot touch the compared range and are skipped.
                shape = (kind, *arg[:2]) if isinstance(arg, tuple) else None
                if shape in past_ceiling:
                    bar.advance(task)
                    continue
                # Every job's records are cached: anchors do not depend on the model, and
                # imfcodec points are named by model id and codec_fingerprint, so a bench
                # stopped and started again, or rerun with other points, codes only what it
                # has not measured with this encoder and model.
                if kind == "imfcodec":
                    assert loaded is not None
                    label = f"{loaded.model_id}-{fingerprint}-" + "-".join(f"{k}{v}" for k, v in arg.items())
                else:
                    label = "-".join(map(str, arg)) if isinstance(arg, tuple) else str(arg)
                    if shape is not None:  # a layer's records hold one per fill: a cache made with fewer is not this job's
                        label += "-" + "+".join(layer_fills(arg[1], LAYER_ANCHORS.get(kind, False)))
                cached = work / f"{video.stem}-{n}f-{kind}-{label}.records.json"
                if cached.is_file():
                    new = json.loads(cached.read_text())
                else:
                    if kind == "imfcodec":
                        assert loaded is not None
                        new = [imfcodec_point(loaded, arg, reference, float(fps), ref_file, work / video.stem)]
                    else:
                        new = anchor_points(kind, arg, reference, fps, work)
                    for rec in new:
                        decoded = rec.pop("decoded")
                        rec.update({"clip": video.stem, "frames": n, "fps": float(fps), **measure(reference, decoded, float(fps))})
                    atomic.write_text(cached, json.dumps(new))
                if kind == "imfcodec":
                    top_rate = max(top_rate, new[0]["kbps"])
                    # A layer step past the grid's that --bitrate chose joins this clip's sweep,
                    # so the like-for-like front always holds the encoder's own layer shape.
                    step = new[0].get("layer", {}).get("step", 1)
                    if step not in LAYER_STEPS and step not in extra_steps:
                        extra_steps.add(step)
                        more = anchor_jobs([a for a in anchors if a in LAYER_ANCHORS or a == "vvenc-lowres"], (step,))
                        clip_jobs += more
                        total += len(more)
                        bar.update(task, total=total)
                elif shape is not None and top_rate > 0 and min(r["kbps"] for r in new) > RATE_CEILING * top_rate:
                    past_ceiling.add(shape)
                records += new
                bar.advance(task)
            write_outputs(records, out)  # after every clip: a long bench stopped early keeps what it measured
    write_outputs(records, out)
    if not quiet:
        print_summary(records, console)
    return records


def imfcodec_point(
    loaded: LoadedModel, point: dict[str, Any], reference: np.ndarray, fps: float, source: Path, stem: Path
) -> dict[str, Any]:
    """One imfcodec operating point on one clip: encoded from the lossless `source`, decoded,
    and for a hybrid file its own base beside it (PSNR and VMAF of the same file's base
    pictures, bicubic upscaled and filled as the decoder fills them). "decoded": the frames."""
    n = len(reference)
    imf_path = stem.with_name(f"{stem.name}-{'-'.join(f'{k}{v}' for k, v in point.items())}.imf")
    t0 = time.time()
    # The bench decodes every file itself: a hybrid encode need not (the encode speed then is
    # what `imfcodec encode --no-psnr` takes); the token mode decodes in its loop regardless.
    options = EncodeOptions(audio=False, in_loop_psnr=not is_hybrid(loaded), **point)
    summary = encode_video(source, imf_path, loaded, options)
    enc_fps = n / (time.time() - t0)
    t0 = time.time()
    imf = read_imf(imf_path)
    decoded = np.stack(list(iter_decoded_frames(imf, loaded)))
    rec = {
        **imfcodec_record(point, imf_path.stat().st_size, n, fps),
        "keyframes": summary.keyframes,
        "encode_fps": enc_fps,
        "decode_fps": n / (time.time() - t0),
        "decoded": decoded,
    }
    if is_hybrid(imf.header):  # the model's own gain: the same base, bicubic upscaled
        rec["layer"] = {"side": int(imf.header["base_size"]), "step": int(imf.header.get("base_step", 1))}
        base = own_base_frames(imf)
        rec["psnr_rgb_bicubic_base"] = float(psnr_rgb_per_frame(reference, base).mean())
        rec |= {f"{k}_bicubic_base": v for k, v in vmaf(reference, base, fps).items()}
    return rec


def own_base_frames(imf: ImfFile) -> np.ndarray:
    """A hybrid file's base layer alone: every group's base pictures, filled as the decoder
    fills them and bicubic upscaled, (T, S, S, 3): what the file would show without the
    model, at the same bytes less the keyframes'."""
    size = int(imf.header["size"])
    return np.concatenate([upsampled_frames(group_base_pictures(imf, g), size) for g in imf.groups])


def bicubic_base_psnr(imf: ImfFile, reference: np.ndarray) -> float:
    """PSNR-RGB (dB, mean over frames) of a hybrid file's base layer alone: every group's base
    pictures, filled as the decoder fills them and bicubic upscaled, against `reference`
    (T, S, S, 3): what the file would show without the model, at the same bytes less the
    keyframes'. The hybrid's PSNR minus this is the model's gain at equal base stream."""
    return float(psnr_rgb_per_frame(reference, own_base_frames(imf)).mean())


def imfcodec_record(point: dict[str, Any], nbytes: int, frames: int, fps: float) -> dict[str, Any]:
    """An imfcodec point's curve name and rates: the whole .imf file of `nbytes` over
    `frames` at `fps`, in kbps. Low-delay hybrid points form their own curve, compared
    with the low-delay anchors."""
    rate = kbps(nbytes, frames, fps)
    codec = "imfcodec-low-delay" if point.get("low_delay") else "imfcodec"
    return {"codec": codec, "point": point, "kbps": rate, "file_kbps": rate, "bytes": nbytes}


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """BD-rate / BD-PSNR of imfcodec (random access or token mode: "bd"; low-delay hybrid
    points: "bd_low_delay") vs each anchor and the low-res anchor's Pareto fronts on the
    mean curve, and every curve's lowest rate."""
    mean = with_fronts(curves(records).get("mean", {}))
    with_vmaf = all("vmaf" in r for r in records)
    mean_vmaf = with_fronts(curves(records, "vmaf").get("mean", {})) if with_vmaf else {}
    result: dict[str, Any] = {"bd": {}, "bd_low_delay": {}, "lowest": {}}
    for mine, key in (("imfcodec", "bd"), ("imfcodec-low-delay", "bd_low_delay")):
        if mine in mean:
            for codec, curve in mean.items():
                if not codec.startswith("imfcodec"):
                    result[key][codec] = {"bd_rate_percent": bd_rate(curve, mean[mine]), "bd_psnr_db": bd_psnr(curve, mean[mine])}
                    if codec in mean_vmaf and mine in mean_vmaf:  # BD-VMAF: the same integral, in VMAF points
                        result[key][codec]["bd_vmaf"] = bd_psnr(mean_vmaf[codec], mean_vmaf[mine])
    for codec, (r, d) in mean.items():
        i = int(np.argmin(r))
        result["lowest"][codec] = {"kbps": r[i], "psnr_rgb": d[i]}
    result["gain_over_bicubic"] = gain_over_bicubic(records)
    result["per_clip"] = per_clip_bd(records)
    return result


def gain_over_bicubic(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per hybrid point, means over clips: kbps, the hybrid's PSNR-RGB, its base layer's
    bicubic upscale's (psnr_rgb_bicubic_base) and the difference, dB (the model's gain at
    equal base stream)."""
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if "psnr_rgb_bicubic_base" in r:
            by_point.setdefault(json.dumps(r["point"], sort_keys=True), []).append(r)
    rows = []
    for point, recs in by_point.items():
        psnr, base = (float(np.mean([r[k] for r in recs])) for k in ("psnr_rgb", "psnr_rgb_bicubic_base"))
        row = {
            "point": json.loads(point),
            "kbps": float(np.mean([r["kbps"] for r in recs])),
            "psnr_rgb": psnr,
            "psnr_rgb_bicubic_base": base,
            "gain_db": psnr - base,
        }
        if all("vmaf_bicubic_base" in r for r in recs):
            vmaf_, vmaf_base = (float(np.mean([r[k] for r in recs])) for k in ("vmaf", "vmaf_bicubic_base"))
            row |= {"vmaf": vmaf_, "vmaf_bicubic_base": vmaf_base, "gain_vmaf": vmaf_ - vmaf_base}
        rows.append(row)
    return sorted(rows, key=lambda row: row["kbps"])


def write_outputs(records: list[dict[str, Any]], out: Path) -> None:
    atomic.write_text(out / "results.json", json.dumps({"records": records, "summary": summarize(records)}, indent=2))
    keys = [
        "clip",
        "codec",
        "point",
        "kbps",
        "file_kbps",
        "bytes",
        "psnr_rgb",
        "psnr_rgb_bicubic_base",
        "vmaf",
        "vmaf_neg",
        "vmaf_bicubic_base",
        "psnr_yuv",
        "ms_ssim",
        "encode_fps",
        "decode_fps",
        "frames",
        "fps",
    ]
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({**r, "point": json.dumps(r["point"])})
    plot(records, out / "rd.png")
    if all("vmaf" in r for r in records):
        plot(records, out / "rd_vmaf.png", metric="vmaf", label="VMAF (vmaf_v0.6.1)")
    if any(np.isfinite(r["ms_ssim"]) for r in records):
        plot(records, out / "rd_msssim.png", metric="ms_ssim", label="MS-SSIM")


def print_summary(records: list[dict[str, Any]], console: Console) -> None:
    s = summarize(records)
    table = Table(title="imfcodec vs anchors (mean over clips)")
    for col in (
        "anchor",
        "BD-rate (%)",
        "BD-PSNR (dB)",
        "BD-VMAF",
        "low delay: BD-rate (%)",
        "BD-PSNR (dB)",
        "BD-VMAF",
        "lowest kbps",
        "PSNR there (dB)",
    ):
        table.add_column(col)

    def fmt(v: float | None, p: str) -> str:
        return "no overlap" if v is None else f"{v:{p}}"

    for codec, low in s["lowest"].items():
        cells = []
        for key in ("bd", "bd_low_delay"):
            bd = s[key].get(codec, {})
            cells += (
                [fmt(bd.get("bd_rate_percent"), "+.1f"), fmt(bd.get("bd_psnr_db"), "+.2f"), fmt(bd.get("bd_vmaf"), "+.1f")]
                if bd
                else ["-"] * 3
            )
        table.add_row(codec, *cells, f"{low['kbps']:.2f}", f"{low['psnr_rgb']:.2f}")
    console.print(table)
    per_clip = s["per_clip"]
    if per_clip["clips"]:
        table = Table(title="imfcodec against each front, per clip: BD-PSNR (dB) / BD-VMAF")
        table.add_column("clip")
        for front in PER_CLIP_FRONTS:
            table.add_column(front)
        for clip, row in [*per_clip["clips"].items(), ("mean of clips", per_clip["mean"])]:
            table.add_row(
                clip,
                *(f"{fmt(row[f]['bd_psnr_db'], '+.2f')} / {fmt(row[f]['bd_vmaf'], '+.1f')}" if f in row else "-" for f in PER_CLIP_FRONTS),
            )
        console.print(table)
