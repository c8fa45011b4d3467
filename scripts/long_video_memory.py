"""Peak memory of a whole `imfcodec encode` and `imfcodec decode` against the video's length:
docs/ROBUSTNESS.md's long-video table.

    python scripts/long_video_memory.py OUT_DIR [--minutes 1,5,20] [--model NAME] [--no-audio]

Each clip is the shipped 5-second talking head (256², 25 fps) played over and over for the
given minutes, with a 440 Hz tone as its sound, written with x264. Every command runs in its
own process; its peak resident memory is the kernel's count for that process alone (wait4).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from imfcodec.codec.sample import TALKING_HEAD


def make_long_clip(path: Path, minutes: float, audio: bool = True) -> int:
    """The sample clip looped to `minutes` at `path` (H.264 CRF 18, AAC tone); returns frames."""
    with av.open(str(TALKING_HEAD)) as src:
        frames = [f.to_ndarray(format="rgb24") for f in src.decode(video=0)]
    fps = 25
    total = int(minutes * 60 * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "18", "preset": "ultrafast"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        samples_per_frame = 48000 // fps
        for i in range(total):
            vf = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            vf.pts = i
            out.mux(video.encode(vf))
            if sound is not None:
                t = (np.arange(samples_per_frame) + i * samples_per_frame) / 48000
                tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
                af.sample_rate = 48000
                af.pts = i * samples_per_frame
                out.mux(sound.encode(af))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return total


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Run `cmd`; (peak RSS in MB, wall seconds). Exits with its output if it fails."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output.decode(errors='replace')[-2000:]}")
    return usage.ru_maxrss / 1024, time.time() - t0  # Linux reports kilobytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--minutes", default="1,5,20")
    ap.add_argument("--model", default=None, help="--model for encode (default: the shipped default)")
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--decode-only", action="store_true", help="decode the .imf files a previous run left in OUT_DIR")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "imfcodec.cli"]
    model = ["--model", args.model] if args.model else []
    print("| video | frames | .imf size | encode peak RSS | encode time | decode peak RSS | decode time |")
    print("|---|---|---|---|---|---|---|")
    for minutes in (float(m) for m in args.minutes.split(",")):
        clip = args.out / f"long-{minutes:g}min.mp4"
        imf, decoded = clip.with_suffix(".imf"), args.out / f"long-{minutes:g}min-decoded.mp4"
        decoded.unlink(missing_ok=True)
        if args.decode_only:
            frames, enc_rss, enc_s = int(minutes * 60 * 25), float("nan"), float("nan")
        else:
            frames = make_long_clip(clip, minutes, audio=not args.no_audio)
            imf.unlink(missing_ok=True)
            enc_rss, enc_s = run_measured(cli + ["encode", str(clip), str(imf), *model])
            clip.unlink()
        dec_rss, dec_s = run_measured(cli + ["decode", str(imf), str(decoded), *model])
        print(
            f"| {minutes:g} min | {frames} | {imf.stat().st_size / 1e6:.2f} MB | {enc_rss:.0f} MB | {enc_s / 60:.1f} min | "
            f"{dec_rss:.0f} MB | {dec_s / 60:.1f} min |",
            flush=True,
        )
        decoded.unlink()


if __name__ == "__main__":
    main()
