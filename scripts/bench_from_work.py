"""Rebuild a bench's records from its folder when the run did not finish: the anchors'
cached records (work/*.json) and imfcodec's .imf files (decoded again with the model),
for the clips whose references were prepared; then the summary per structure.

    python scripts/bench_from_work.py BENCH_DIR --model imf-hybrid-v1 [--clips a,b]

Prints the records' summary (BD against each anchor and the low-res fronts) as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imfcodec.bench.run import imfcodec_record, measure, summarize
from imfcodec.codec.decoder import iter_decoded_frames, read_imf
from imfcodec.model.weights import load_weights, resolve_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--clips", default="")
    args = ap.parse_args()
    loaded = load_weights(resolve_model(args.model))
    clips = args.clips.split(",") if args.clips else sorted(p.stem.rsplit("-250f", 1)[0] for p in (args.bench / "references").glob("*.npy"))
    records = []
    for clip in clips:
        reference = np.load(args.bench / "references" / f"{clip}-250f-256.npy")
        for cached in sorted((args.bench / "work").glob(f"{clip}-250f-*.json")):
            records.append(json.loads(cached.read_text()))
        for imf_path in sorted((args.bench / "work").glob(f"{clip}-base_size*.imf")):
            imf = read_imf(imf_path)
            decoded = np.stack(list(iter_decoded_frames(imf, loaded)))
            h = imf.header
            fps = h["fps_num"] / h["fps_den"]
            point = {"base_size": h["base_size"], "base_crf": h["base_crf"], "low_delay": bool(h["base_low_delay"])}
            records.append(
                {
                    **imfcodec_record(point, imf_path.stat().st_size, len(decoded), fps),
                    "clip": clip,
                    "frames": len(decoded),
                    "fps": fps,
                    **measure(reference[: len(decoded)], decoded),
                }
            )
    print(json.dumps({"clips": clips, "summary": summarize(records), "records": records}, indent=1, default=float))


if __name__ == "__main__":
    main()
