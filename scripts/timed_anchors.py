"""The like-for-like front with the timed fill: for an `imfcodec bench` run made before the
anchor could use it (results.json), each random-access low-res layer it coded (side, picture
step >= 2, CRF; at most --max-kbps) coded again, the skipped frames drawn at the times
imfcodec's encoder would choose and send, the offsets' bytes added to the layer's, PSNR-RGB
and VMAF against the clip. The layer is checked to be the bench's own, byte for byte. Writes
bench records (JSON lines) for scripts/models_on_front.py --extra-records.

    python scripts/timed_anchors.py OUT/results.json --clips DEV > timed-anchors.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from imfcodec.bench.metrics import psnr_rgb_per_frame
from imfcodec.bench.reference import prepare_reference
from imfcodec.bench.vmaf import vmaf
from imfcodec.codec.hybrid.base_layer import decode_base, downscale, encode_base, encode_offsets, fill_skipped, split_packets
from imfcodec.codec.hybrid.decode import upsampled_frames
from imfcodec.codec.hybrid.motion_fill import choose_offsets

ANCHOR = "svtav1-lowres-ra"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path)
    parser.add_argument("--clips", type=Path, required=True, help="the folder of the bench's clips")
    parser.add_argument("--max-kbps", type=float, default=12.0, help="layers above this rate (any fill) are left out")
    parser.add_argument("--only", help="comma-separated clips")
    parser.add_argument("--no-vmaf", action="store_true", help="PSNR only (VMAF is most of the time)")
    parser.add_argument("--sides", default="96,128", help="the layer sides to redo (64² is on no clip's front at 3-10 kbps)")
    args = parser.parse_args()
    records = json.loads(args.results.read_text())["records"]
    layers: dict[tuple[str, int, int, int], dict] = {}
    for r in records:
        p = r["point"]
        if (
            r["codec"].startswith(ANCHOR + "-")
            and p.get("step", 1) >= 2
            and p.get("fill") == "linear"
            and r["kbps"] <= args.max_kbps
            and str(p["side"]) in args.sides.split(",")
        ):
            layers[(r["clip"], p["side"], p["step"], p["crf"])] = r
    clips = sorted({k[0] for k in layers} & set(args.only.split(",") if args.only else {k[0] for k in layers}))
    for clip in clips:
        frames = next(r["frames"] for k, r in layers.items() if k[0] == clip)
        reference, fps, _ = prepare_reference(args.clips / f"{clip}.mp4", frames, 256, Path("/tmp/imfcodec-refs"))
        truth: dict[int, object] = {}
        for (c, side, step, crf), linear in sorted(layers.items()):
            if c != clip:
                continue
            payload = encode_base(downscale(reference[::step], side), crf, False)
            es = sum(len(p) for p in split_packets(payload))
            if es != linear["bytes"]:
                raise SystemExit(f"{clip} {side}² every {step} CRF {crf}: {es} bytes, the bench's {linear['bytes']}")
            coded = decode_base(payload, -(-len(reference) // step))
            if side not in truth:
                truth[side] = downscale(reference, side)
            offsets = choose_offsets(coded, truth[side], step)  # type: ignore[arg-type]
            shown = upsampled_frames(fill_skipped(coded, len(reference), step, "timed", offsets), reference.shape[1])
            nbytes = es + len(encode_offsets(offsets))
            rate = nbytes * 8 / (len(reference) / float(fps)) / 1000
            scores = {} if args.no_vmaf else vmaf(reference, shown, float(fps))
            record = {
                "codec": f"{ANCHOR}-{side}-s{step}-timed",
                "point": {"crf": crf, "side": side, "step": step, "fill": "timed"},
                "kbps": rate,
                "file_kbps": rate,
                "bytes": nbytes,
                "clip": clip,
                "frames": len(reference),
                "fps": float(fps),
                "psnr_rgb": float(psnr_rgb_per_frame(reference, shown).mean()),
                **scores,
                "linear_psnr_rgb": linear["psnr_rgb"],
                "linear_kbps": linear["kbps"],
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
