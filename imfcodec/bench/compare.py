"""`imfcodec compare`: the source, imfcodec and a conventional codec at the same rate, side by
side in one video, each panel labelled with its codec, rate and running PSNR, plus a plot
of the per-frame PSNR of both codecs with imfcodec's keyframes marked.

The anchor is the benchmark's own (bench/anchors.py, low delay as EVALUATION.md fixes it);
its CRF is found by bisection so that its video rate is the nearest it can come to the
.imf file's video rate (audio excluded from both).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..atomic import atomic_path
from ..bitstream.header import NO_KEYFRAME
from ..codec.decoder import iter_decoded_frames, read_imf
from ..codec.info import describe
from ..codec.options import is_hybrid
from ..codec.video_io import VideoWriter, iter_frames
from ..errors import ImfcodecError
from ..model.weights import LoadedModel
from ..rate import kbps
from .anchors import AnchorResult, encode_anchor_guarded
from .layer_anchor import encode_layer_anchor
from .metrics import psnr_rgb_per_frame
from .vmaf import VmafUnavailable, vmaf_per_frame

# --anchor -> (bench anchor, side of the coded picture or None for full size, CRF range)
ANCHOR_CHOICES: dict[str, tuple[str, int | None, tuple[int, int]]] = {
    "svtav1": ("svtav1", None, (1, 63)),
    "x265": ("x265", None, (0, 51)),
    "svtav1-lowres": ("svtav1", 96, (1, 63)),
}
# The default for a hybrid file: SVT-AV1 coding the file's own base layer (side, picture
# step, fill, prediction structure) at the same rate, without the network (bench/layer_anchor.py).
OWN_LAYER = "own-layer"
R = TypeVar("R")
LABEL_HEIGHT = 24  # pixels of the caption bar above each panel


@dataclass
class Comparison:
    """What `compare` measured: rates in kbps (video only), PSNR-RGB per frame in dB."""

    frames: int
    imf_kbps: float
    anchor: str
    anchor_crf: int
    anchor_kbps: float
    imf_psnr: np.ndarray  # (T,)
    anchor_psnr: np.ndarray  # (T,)
    keyframes: list[int]
    imf_vmaf: np.ndarray | None = None  # (T,) vmaf_v0.6.1 per frame
    anchor_vmaf: np.ndarray | None = None


def _require_plotting() -> None:
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        raise ImfcodecError("compare draws its captions and plot with Pillow and matplotlib: pip install 'imfcodec[bench]'") from None


def _nearest_rate(
    encode_at: Callable[[int], R],
    rate_of: Callable[[R], float],
    crfs: tuple[int, int],
    target_kbps: float,
    say: Callable[[str], None],
    label: Callable[[R], str],
) -> R:
    """The result of `encode_at(crf)` whose rate is nearest `target_kbps`: a bisection over
    `crfs` (the rate falls as the CRF rises), about six encodes."""
    lo, hi = crfs
    tried: dict[int, tuple[R, float]] = {}
    while lo <= hi:
        crf = (lo + hi) // 2
        result = encode_at(crf)
        rate = rate_of(result)
        tried[crf] = (result, rate)
        say(f"{label(result)} CRF {crf}: {rate:.2f} kbps (target {target_kbps:.2f})")
        if rate > target_kbps:
            lo = crf + 1
        else:
            hi = crf - 1
    return min(tried.values(), key=lambda t: abs(t[1] - target_kbps))[0]


def match_rate(
    anchor: str, reference: np.ndarray, fps: Fraction, target_kbps: float, workdir: Path, say: Callable[[str], None] = print
) -> AnchorResult:
    """The anchor encoded at the CRF whose video rate is nearest `target_kbps`."""
    name, side, crfs = ANCHOR_CHOICES[anchor]
    return _nearest_rate(
        lambda crf: encode_anchor_guarded(name, reference, fps, crf, workdir, side=side),
        lambda r: kbps(r.es_bytes, len(reference), float(fps)),
        crfs,
        target_kbps,
        say,
        lambda _r: anchor,
    )


def match_rate_own_layer(
    header: dict[str, Any], reference: np.ndarray, fps: Fraction, target_kbps: float, say: Callable[[str], None] = print
) -> tuple[AnchorResult, str]:
    """The file's own base layer shape coded at the CRF whose rate is nearest `target_kbps`:
    (the result, its label)."""
    name = "svtav1-lowres" if header.get("base_low_delay") else "svtav1-lowres-ra"
    side, step, fill = int(header["base_size"]), int(header.get("base_step", 1)), str(header.get("base_fill", "repeat"))
    best = _nearest_rate(
        lambda crf: next(r for r in encode_layer_anchor(name, reference, side, step, crf) if r.fill == fill or step == 1),
        lambda r: kbps(r.es_bytes, len(reference), float(fps)),
        (1, 63),
        target_kbps,
        say,
        lambda r: r.label,
    )
    label = f"SVT-AV1 {side}² every {step}" if step > 1 else f"SVT-AV1 {side}²"
    return AnchorResult(best.label, best.crf, best.es_bytes, best.es_bytes, best.frames, best.encode_fps, float("nan")), label


def _caption(panel: np.ndarray, text: str) -> np.ndarray:
    """(S, S, 3) uint8 -> (LABEL_HEIGHT + S, S, 3): `text` in white on a black bar above it."""
    from PIL import Image, ImageDraw

    bar = Image.new("RGB", (panel.shape[1], LABEL_HEIGHT))
    ImageDraw.Draw(bar).text((4, 6), text, fill=(255, 255, 255))
    return np.concatenate([np.asarray(bar), panel])


def side_by_side(panels: list[np.ndarray], captions: list[str]) -> np.ndarray:
    """Equal-sized (S, S, 3) frames, each under its caption, left to right: (24 + S, n·S, 3)."""
    return np.concatenate([_caption(p, c) for p, c in zip(panels, captions)], axis=1)


def plot_psnr(result: Comparison, path: Path) -> None:
    """Per-frame PSNR-RGB of both codecs, imfcodec's keyframes as dotted lines, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("PSNR-RGB (dB)", result.imf_psnr, result.anchor_psnr, "dB")]
    if result.imf_vmaf is not None and result.anchor_vmaf is not None:
        panels.append(("VMAF (vmaf_v0.6.1)", result.imf_vmaf, result.anchor_vmaf, ""))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 4 * len(panels)), squeeze=False)
    t = np.arange(result.frames)
    for ax, (label, mine, theirs, unit) in zip(axes[:, 0], panels):
        ax.plot(t, mine, label=f"imfcodec, {result.imf_kbps:.2f} kbps, mean {mine.mean():.2f} {unit}")
        ax.plot(t, theirs, label=f"{result.anchor} CRF {result.anchor_crf}, {result.anchor_kbps:.2f} kbps, mean {theirs.mean():.2f} {unit}")
        for i, k in enumerate(result.keyframes):
            ax.axvline(k, color="gray", linestyle=":", linewidth=1, label="imfcodec keyframe" if i == 0 else None)
        ax.set_xlabel("frame")
        ax.set_ylabel(label)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def compare(
    source: Path,
    imf_path: Path,
    output: Path,
    loaded: LoadedModel,
    anchor: str | None = None,
    plot: Path | None = None,
    say: Callable[[str], None] = print,
) -> Comparison:
    """Write `output` (a side-by-side video) and `plot` (default: `output` as .png). `anchor`
    None: the file's own base layer for a hybrid file (OWN_LAYER), full-size SVT-AV1 for tokens."""
    if anchor is not None and anchor not in (*ANCHOR_CHOICES, OWN_LAYER):
        raise ImfcodecError(f"unknown anchor {anchor!r}; choose from {', '.join((OWN_LAYER, *ANCHOR_CHOICES))}")
    _require_plotting()
    imf = read_imf(imf_path)
    info = describe(imf)
    h = imf.header
    if anchor is None:
        anchor = OWN_LAYER if is_hybrid(h) else "svtav1"
    if anchor == OWN_LAYER and not is_hybrid(h):
        raise ImfcodecError(f"--anchor {OWN_LAYER}: {imf_path} has no base layer (a token-mode file); use svtav1, x265 or svtav1-lowres")
    fps = Fraction(h["fps_num"], h["fps_den"])
    size = int(h["size"])
    say(f"decoding {imf_path} ({imf.frame_count} frames)")
    decoded = np.stack(list(iter_decoded_frames(imf, loaded)))
    reference = np.stack(list(iter_frames(source, size=size, crop=h.get("crop") or "center", max_frames=len(decoded))))
    if len(reference) != len(decoded):
        raise ImfcodecError(f"{source} has {len(reference)} frames, {imf_path} {len(decoded)}: is it the clip the file was encoded from?")
    imf_kbps = float(info["kbps"]["video"])
    if anchor == OWN_LAYER:
        result, anchor = match_rate_own_layer(h, reference, fps, imf_kbps, say)
    else:
        with tempfile.TemporaryDirectory(prefix="imfcodec-compare-") as tmp:
            result = match_rate(anchor, reference, fps, imf_kbps, Path(tmp), say)
    comparison = Comparison(
        frames=len(decoded),
        imf_kbps=imf_kbps,
        anchor=anchor,
        anchor_crf=result.crf,
        anchor_kbps=kbps(result.es_bytes, len(reference), float(fps)),
        imf_psnr=psnr_rgb_per_frame(reference, decoded),
        anchor_psnr=psnr_rgb_per_frame(reference, result.frames),
        keyframes=[] if imf.header["keyframe_codec"] == NO_KEYFRAME else [g.first_frame for g in imf.groups],
    )
    try:
        comparison.imf_vmaf = vmaf_per_frame(reference, decoded, float(fps))["vmaf"]
        comparison.anchor_vmaf = vmaf_per_frame(reference, result.frames, float(fps))["vmaf"]
    except VmafUnavailable as exc:
        say(f"note: no VMAF in the plot ({exc})")
    if comparison.anchor_kbps > 1.1 * imf_kbps:
        say(
            f"note: {anchor} cannot come down to {imf_kbps:.2f} kbps on this clip: its highest CRF gives {comparison.anchor_kbps:.2f} kbps"
            + (f" (--anchor {OWN_LAYER} or svtav1-lowres go lower)" if anchor in ("svtav1", "x265") else "")
        )
    elif comparison.anchor_kbps < 0.9 * imf_kbps:
        say(f"note: {anchor} at its lowest CRF gives only {comparison.anchor_kbps:.2f} kbps, below imfcodec's {imf_kbps:.2f}")
    say(f"writing {output}")
    height, width = LABEL_HEIGHT + size, 3 * size
    with atomic_path(output) as tmp:
        writer = VideoWriter(tmp, fps, width, height, suffix=output.suffix)
        try:
            for t in range(len(decoded)):
                imf_running = comparison.imf_psnr[: t + 1].mean()
                anchor_running = comparison.anchor_psnr[: t + 1].mean()
                captions = [
                    f"source  frame {t}",
                    f"imfcodec {imf_kbps:.1f} kbps {imf_running:.2f} dB" + ("  KEY" if t in comparison.keyframes else ""),
                    f"{anchor} {comparison.anchor_kbps:.1f} kbps {anchor_running:.2f} dB",
                ]
                writer.write(side_by_side([reference[t], decoded[t], result.frames[t]], captions))
        finally:
            writer.close()
    plot_psnr(comparison, plot or output.with_suffix(".png"))
    return comparison
