"""The token mode at the rates a user names, beside repeating its keyframes.

For each clip (first N frames, centre square, 256², from a lossless copy as the bench
makes it) and each rate: `--base-size 0 --bitrate R` (and the default, no rate option),
decoded; measured against the source: the file's rate, PSNR-RGB and VMAF of the whole
frame and PSNR of its lower third (where the mouth is in these crops), and the same for
"repeat the keyframe" (the file's own keyframe pictures, each held for its group: what
the tokens add is the difference). Constant-quality points (`--quality Q`) answer whether
the token's quantisation is what keeps the mouth still.

    python scripts/token_rate_table.py DEV/*.mp4 --out token-rates.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from imfcodec.bench.reference import prepare_reference
from imfcodec.bench.vmaf import vmaf
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeOptions, encode_video
from imfcodec.codec.keyframes import get_codec
from imfcodec.frames import psnr_per_frame
from imfcodec.model.weights import DEFAULT_TOKEN_MODEL, load_weights, resolve_model
from imfcodec.rate import kbps


def held_keyframes(path: Path) -> np.ndarray:
    """(T, S, S, 3): each group's keyframe picture repeated over the group's frames."""
    imf = read_imf(path)
    codec = get_codec(str(imf.header["keyframe_codec"]))
    return np.concatenate([np.repeat(codec.decode(g.keyframe)[None], g.frame_count, axis=0) for g in imf.groups])


def scores(reference: np.ndarray, decoded: np.ndarray, fps: float) -> dict[str, float]:
    lower = slice(reference.shape[1] * 2 // 3, None)
    return {
        "psnr": float(psnr_per_frame(reference, decoded).mean()),
        "psnr_mouth": float(psnr_per_frame(reference[:, lower], decoded[:, lower]).mean()),
        "vmaf": vmaf(reference, decoded, fps)["vmaf"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--rates", default="1.5,2,4,default", help="kbps, or 'default' (no rate option)")
    ap.add_argument("--qualities", default="", help="constant-quality points, e.g. 1,3,8")
    ap.add_argument("--model", default=DEFAULT_TOKEN_MODEL)
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--work", type=Path, default=Path("token-rates"))
    ap.add_argument("--out", type=Path, default=Path("token-rates.json"))
    args = ap.parse_args()
    loaded = load_weights(resolve_model(args.model))
    points: list[tuple[str, EncodeOptions]] = []
    for r in filter(None, args.rates.split(",")):
        points.append((r, EncodeOptions(audio=False) if r == "default" else EncodeOptions(audio=False, bitrate_kbps=float(r))))
    points += [(f"q{q}", EncodeOptions(audio=False, quality=int(q))) for q in filter(None, args.qualities.split(","))]
    rows = json.loads(args.out.read_text()) if args.out.is_file() else []
    done = {(r["clip"], r["point"]) for r in rows}
    args.work.mkdir(parents=True, exist_ok=True)
    for clip in args.clips:
        reference, fps, lossless = prepare_reference(clip, args.frames, 256, args.work / "references")
        for name, options in points:
            if (clip.stem, name) in done:
                continue
            path = args.work / f"{clip.stem}-{name}.imf"
            t0 = time.time()
            summary = encode_video(lossless, path, loaded, options)
            seconds = time.time() - t0
            decoded = np.stack(list(iter_decoded_frames(read_imf(path), loaded)))
            row = {
                "clip": clip.stem,
                "point": name,
                "target_kbps": options.bitrate_kbps,
                "kbps": kbps(path.stat().st_size, len(reference), float(fps)),
                "keyframes": summary.keyframes,
                "keyframe_kbps": summary.kbps()["keyframes"],
                "token_kbps": summary.kbps()["tokens"],
                "token_quality": int(read_imf(path).header["quality"]),
                "encode_fps": len(reference) / seconds,
                **scores(reference, decoded, float(fps)),
                **{f"repeat_{k}": v for k, v in scores(reference, held_keyframes(path), float(fps)).items()},
            }
            rows.append(row)
            args.out.write_text(json.dumps(rows, indent=1))
            print(
                f"{clip.stem:24s} {name:8s} {row['kbps']:6.2f} kbps  kf {row['keyframes']:2d}  q{row['token_quality']}  "
                f"PSNR {row['psnr']:.2f} (repeat {row['repeat_psnr']:.2f})  mouth {row['psnr_mouth']:.2f} "
                f"(repeat {row['repeat_psnr_mouth']:.2f})  VMAF {row['vmaf']:.1f} (repeat {row['repeat_vmaf']:.1f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
