"""Per frame, around mouth motion: does the token mode's lower face move when the speaker's does?

For a clip and a token-mode file of it (made by scripts/token_rate_table.py or `imfcodec
encode --base-size 0`), per frame of the first N: PSNR of the lower third (where the mouth is
in these crops) for the decoded frame and for its group's keyframe held still, and two
movements of the lower third away from the group's keyframe, as mean absolute difference in
8-bit levels: the source's (how far the mouth has moved) and the decoded frame's (how far the
codec moved it). A codec that follows the mouth moves its output when the source moves:
the correlation of the two movements over the frames is the number; 0 means the output's
lower face does not track the speaker's.

    python scripts/token_mouth_frames.py DEV/tpsmm-driving.mp4 token-rates/tpsmm-driving-2.imf --plot mouth.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from token_rate_table import held_keyframes  # a sibling script: scripts/ is on the path when one runs

from imfcodec.bench.reference import prepare_reference
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.frames import psnr_per_frame
from imfcodec.model.weights import DEFAULT_TOKEN_MODEL, load_weights, resolve_model


def lower_third(frames: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) -> (T, S - 2S/3, S, 3) as float."""
    return frames[:, frames.shape[1] * 2 // 3 :].astype(np.float64)


def movement(frames: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(T,) mean absolute difference of each frame's lower third from its anchor's, 8-bit levels."""
    return np.asarray(np.abs(lower_third(frames) - lower_third(anchors)).mean(axis=(1, 2, 3)))


def per_frame(reference: np.ndarray, imf_path: Path, model: str) -> dict[str, list[float]]:
    imf = read_imf(imf_path)
    loaded = load_weights(resolve_model(model))  # the decoder checks it is the file's
    decoded = np.stack(list(iter_decoded_frames(imf, loaded)))[: len(reference)]
    held = held_keyframes(imf_path)
    starts = np.concatenate([np.full(g.frame_count, g.first_frame) for g in imf.groups])[: len(reference)]
    lower = slice(reference.shape[1] * 2 // 3, None)
    return {
        "psnr_mouth": psnr_per_frame(reference[:, lower], decoded[:, lower]).tolist(),
        "psnr_mouth_repeat": psnr_per_frame(reference[:, lower], held[: len(reference), lower]).tolist(),
        "source_movement": movement(reference, reference[starts]).tolist(),
        "decoded_movement": movement(decoded, decoded[starts]).tolist(),
        "keyframes": sorted({int(s) for s in starts}),
    }


def plot(rows: dict[str, list[float]], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    t = np.arange(len(rows["psnr_mouth"]))
    top.plot(t, rows["psnr_mouth"], label="token mode", lw=1)
    top.plot(t, rows["psnr_mouth_repeat"], label="keyframe held", lw=1)
    top.set_ylabel("PSNR, lower third (dB)")
    top.legend(loc="lower left", fontsize=8)
    bottom.plot(t, rows["source_movement"], label="source", lw=1)
    bottom.plot(t, rows["decoded_movement"], label="token mode", lw=1)
    bottom.set_ylabel("lower third's change\nfrom keyframe (levels)")
    bottom.set_xlabel("frame")
    bottom.legend(loc="upper left", fontsize=8)
    for axis in (top, bottom):
        for k in rows["keyframes"]:
            axis.axvline(k, color="grey", lw=0.5, ls=":")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("imf", type=Path, help="a token-mode file of the clip's first --frames frames")
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--model", default=DEFAULT_TOKEN_MODEL, help="the model the file was coded with")
    ap.add_argument("--work", type=Path, default=Path("token-rates"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    reference, _, _ = prepare_reference(args.clip, args.frames, 256, args.work / "references")
    rows = per_frame(reference, args.imf, args.model)
    r = float(np.corrcoef(rows["source_movement"], rows["decoded_movement"])[0, 1])
    summary = {
        "clip": args.clip.stem,
        "file": args.imf.name,
        "movement_correlation": r,
        "source_movement_mean": float(np.mean(rows["source_movement"])),
        "decoded_movement_mean": float(np.mean(rows["decoded_movement"])),
        "psnr_mouth": float(np.mean(rows["psnr_mouth"])),
        "psnr_mouth_repeat": float(np.mean(rows["psnr_mouth_repeat"])),
    }
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({**summary, "frames": rows}))
    if args.plot:
        plot(rows, f"{args.clip.stem}, {args.imf.name}: movement correlation {r:+.2f}", args.plot)


if __name__ == "__main__":
    main()
