"""Speech quality of the Opus track at the rates a video call would use: PESQ (ITU-T P.862.2,
wideband) and STOI, against the source's own audio, on every clip with a sound track.

    pip install pesq pystoi      # the two metrics' packages (not in the project's extras)
    python scripts/audio_rate.py DEV/*.mp4 [--rates 6,8,12,16]

Each clip's audio goes through imfcodec's own encoder (codec/audio.encode_audio) as source
layout with Opus's `audio` tuning (the old default) and as mono with its `voip` tuning, is
decoded by libopus, and both sides are resampled to 16 kHz mono for the metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
from pesq import pesq
from pystoi import stoi

from imfcodec.codec.audio import OPUS_RATE, encode_audio

RATE = 16000  # PESQ wideband


def mono16k(frames: list[av.AudioFrame]) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    out = [r.to_ndarray().reshape(-1) for f in frames for r in resampler.resample(f)]
    out += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return np.concatenate(out)


def source_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return mono16k(list(c.decode(audio=0)))


def coded_audio(path: Path, kbps: int, layout: str | None, application: str) -> tuple[np.ndarray, float]:
    """(16 kHz mono decoded audio, measured kbps of the Opus packets)."""
    coded = encode_audio(path, kbps, layout=layout, application=application)
    assert coded is not None
    meta, batches = coded
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = OPUS_RATE
    decoder.layout = meta["layout"]
    frames, nbytes, last = [], 0, 0
    for batch in batches:
        for pts, duration, data in batch:
            nbytes += len(data)
            last = pts + duration
            frames += decoder.decode(av.Packet(data))
    return mono16k(frames), 8 * nbytes / (last / OPUS_RATE) / 1000


def aligned(ref: np.ndarray, test: np.ndarray, max_lag: int = RATE // 2) -> tuple[np.ndarray, np.ndarray]:
    """Both signals cut to their overlap at the lag (within ±`max_lag` samples) that best
    correlates them: the decoder's pre-skip and the video's start offset move the coded
    audio by a few milliseconds, and STOI, unlike PESQ, does not search for that."""
    n = min(len(ref), len(test))
    size = 1 << (2 * n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(ref[:n], size) * np.conj(np.fft.rfft(test[:n], size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    lag = int(lags[np.argmax(xc[lags])])
    if lag >= 0:  # the reference is late: test[i] matches ref[i + lag]
        r, t = ref[lag:], test
    else:
        r, t = ref, test[-lag:]
    m = min(len(r), len(t))
    return r[:m], t[:m]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--rates", default="6,8,12,16")
    args = ap.parse_args()
    print("| clip | setting | kbps asked | kbps measured | PESQ-WB | STOI |")
    print("|---|---|---:|---:|---:|---:|")
    for clip in args.clips:
        with av.open(str(clip)) as c:
            if not c.streams.audio:
                continue
        ref = source_audio(clip)
        if np.sqrt(np.mean(ref**2)) < 1e-3:  # a silent track (several clips carry one): nothing to score
            print(f"| {clip.stem} | silent track, skipped | | | | |")
            continue
        for kbps in map(int, args.rates.split(",")):
            for layout, application in ((None, "audio"), ("mono", "voip")):
                test, measured = coded_audio(clip, kbps, layout, application)
                r, t = aligned(ref, test)
                p = pesq(RATE, r, t, "wb")
                s = stoi(r, t, RATE, extended=False)
                name = f"{layout or 'source'} {application}"
                print(f"| {clip.stem} | {name} | {kbps} | {measured:.1f} | {p:.2f} | {s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
