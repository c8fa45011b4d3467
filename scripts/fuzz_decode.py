"""The long fuzz campaign over `info` and decode (docs/ROBUSTNESS.md): structure-aware
mutations of seed files (tests/fuzzing.py), every CRC repaired, each file read by `info`
and decoded in full. Counts outcomes; saves any file that ends in something other than an
ImfcodecError (a bug) under OUT, with its traceback.

    python scripts/fuzz_decode.py OUT [--minutes 15] [--count 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from imfcodec.bitstream.container import Reader  # noqa: E402
from imfcodec.codec.decoder import iter_decoded_frames, read_imf  # noqa: E402
from imfcodec.codec.info import describe  # noqa: E402
from imfcodec.errors import ImfcodecError  # noqa: E402
from tests.fuzzing import make_seeds, mutate  # noqa: E402

TINY = Path(__file__).resolve().parent.parent / "tests" / "expected" / "tiny-test.safetensors"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="imfcodec-fuzz-"))
    seeds = make_seeds(work, TINY)
    rng = random.Random(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "")
    t_end = time.time() + args.minutes * 60
    n = 0
    path = work / "m.imf"
    while n < args.count and time.time() < t_end:
        name, data, loaded = seeds[n % len(seeds)]
        mutated, what = mutate(data, rng)
        path.write_bytes(mutated)
        t0 = time.time()
        try:
            describe(Reader(path).read_all())
            for _ in iter_decoded_frames(read_imf(path), loaded):
                pass
            outcomes["decoded"] += 1
        except ImfcodecError as exc:
            outcomes[f"clean: {type(exc).__name__}"] += 1
        except Exception as exc:  # a bug: keep the file
            kind = f"BUG: {type(exc).__name__}"
            outcomes[kind] += 1
            keep = args.out / f"bug-{outcomes[kind]:04d}-{type(exc).__name__}.imf"
            keep.write_bytes(mutated)
            keep.with_suffix(".txt").write_text(f"{name}: {what}\n" + traceback.format_exc())
        dt = time.time() - t0
        if dt > slowest[0]:
            slowest = (dt, f"{name}: {what}")
        n += 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "files": n,
        "outcomes": dict(outcomes.most_common()),
        "slowest_s": round(slowest[0], 3),
        "slowest": slowest[1],
        "peak_rss_mb": round(peak_mb),
    }
    (args.out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
