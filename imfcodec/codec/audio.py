"""Audio: the first audio stream re-encoded to Opus for the container, and back out for muxing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

OPUS_RATE = 48000  # Opus always codes at 48 kHz
# Speech at 12 kbps: PESQ-WB 3.53 and STOI 0.94 (mean of six speech clips, two of them dev;
# scripts/audio_rate.py, docs/BENCHMARKS.md); 16 kbps adds 0.12 PESQ for a third more bits,
# 8 kbps loses 0.7. Mono with Opus's voip tuning measured no better, so the source's layout
# and the audio tuning stay. --bitrate counts the video only, as ffmpeg's -b:v and -b:a.
DEFAULT_AUDIO_KBPS = 12
OPUS_FRAME = 960  # samples per Opus frame: 20 ms


Packet = tuple[int, int, bytes]  # (pts in 1/48000 s, duration, Opus bytes)


def encode_audio(
    path: str | Path,
    bitrate_kbps: int,
    length_s: Callable[[], float | None] = lambda: None,
    layout: str | None = None,
    application: str = "audio",
) -> tuple[dict[str, Any], Iterator[list[Packet]]] | None:
    """Opus packets of the first audio stream, in batches of about one second.

    Returns (meta, batches) or None when the input has no audio. The batches are read
    lazily and end at `length_s()` seconds (None: the whole stream), asked for when they are
    first read: the encoder knows the video's length only once it has read the video. The
    last Opus frame may run past that length by less than its 20 ms. Packet pts are in
    1/48000 s, counted from the start of the video stream (audio before it is dropped).
    `layout`: mono or stereo (None: stereo if the source has two channels or more);
    `application`: Opus's tuning, audio or voip (speech).
    """
    container = av.open(str(path))
    if not container.streams.audio:
        container.close()
        return None
    stream = container.streams.audio[0]
    video_start = 0.0
    if container.streams.video:
        v = container.streams.video[0]
        if v.start_time is not None and v.time_base is not None:
            video_start = float(v.start_time * v.time_base)
    layout = layout or ("stereo" if (stream.codec_context.channels or 1) >= 2 else "mono")
    encoder = av.CodecContext.create("libopus", "w")
    encoder.options = {"application": application}
    encoder.sample_rate = OPUS_RATE
    encoder.layout = layout
    encoder.format = "s16"
    encoder.bit_rate = int(bitrate_kbps * 1000)
    encoder.time_base = Fraction(1, OPUS_RATE)
    encoder.open()
    resampler = av.AudioResampler(format="s16", layout=layout, rate=OPUS_RATE)
    meta = {
        "codec": "opus",
        "sample_rate": OPUS_RATE,
        "layout": layout,
        "bitrate_kbps": bitrate_kbps,
        "extradata": bytes(encoder.extradata or b""),
    }

    def batches() -> Iterator[list[Packet]]:
        pending: list[Packet] = []
        fifo = av.AudioFifo()
        seconds = length_s()
        # Whole Opus frames up to the video's end: the last one may run past it by < 20 ms.
        limit = None if seconds is None else -(-int(round(seconds * OPUS_RATE)) // OPUS_FRAME) * OPUS_FRAME
        written = 0
        skip = int(round(max(0.0, video_start - float((stream.start_time or 0) * stream.time_base)) * OPUS_RATE)) if stream.time_base else 0

        def drain(frames: list[av.AudioFrame]) -> Iterator[list[Packet]]:
            nonlocal pending
            for f in frames:
                for packet in encoder.encode(f):
                    if packet.pts is None or packet.pts < 0:
                        continue
                    pending.append((int(packet.pts), int(packet.duration or 0), bytes(packet)))
            if len(pending) >= 50:
                yield pending
                pending = []

        try:
            for frame in container.decode(stream):
                if limit is not None and written >= limit:
                    break
                frame.pts = None
                for rf in resampler.resample(frame):
                    fifo.write(rf)
                while fifo.samples >= OPUS_FRAME and (limit is None or written < limit):
                    chunk = _read(fifo, OPUS_FRAME)
                    if skip > 0:
                        skip -= OPUS_FRAME
                        continue
                    chunk.pts = written
                    written += OPUS_FRAME
                    yield from drain([chunk])
            for packet in encoder.encode(None):
                if packet.pts is not None and packet.pts >= 0:
                    pending.append((int(packet.pts), int(packet.duration or 0), bytes(packet)))
            if pending:
                yield pending
        except av.FFmpegError:
            if pending:
                yield pending
        finally:
            container.close()

    return meta, batches()


class AudioMuxer:
    """Decode the stored Opus packets and re-encode them into the output container (AAC in
    .mp4/.mov, FLAC in .mkv), from `start_s` to `end_s` of the video (None: to the end)."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        meta: dict[str, Any],
        packets: Sequence[Packet],
        lossless: bool,
        start_s: float = 0.0,
        end_s: float | None = None,
    ) -> None:
        self.container = container
        self.packets = packets
        self.decoder = av.CodecContext.create("libopus", "r")
        self.decoder.sample_rate = meta["sample_rate"]
        self.decoder.layout = meta["layout"]
        if meta.get("extradata"):
            self.decoder.extradata = meta["extradata"]
        self.stream = container.add_stream("flac" if lossless else "aac", rate=OPUS_RATE)
        self.stream.layout = meta["layout"]
        if not lossless:
            self.stream.bit_rate = 128_000
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout=meta["layout"], rate=OPUS_RATE)
        self.skip = int(round(start_s * OPUS_RATE))
        self.samples_left = None if end_s is None else int(round((end_s - start_s) * OPUS_RATE))
        self.written = 0

    def write_all(self) -> None:
        fifo = av.AudioFifo()
        for packet_pts, _duration, data in self.packets:
            packet = av.Packet(data)
            packet.pts = packet_pts
            packet.time_base = Fraction(1, OPUS_RATE)
            for frame in self.decoder.decode(packet):
                frame.pts = None
                for rf in self.resampler.resample(frame):
                    fifo.write(rf)
            self._flush(fifo, final=False)
        self._flush(fifo, final=True)
        for out in self.stream.encode(None):
            self.container.mux(out)

    def _flush(self, fifo: av.AudioFifo, final: bool) -> None:
        """Encode what the fifo holds, after the samples before the window and up to its end."""
        size = self.stream.codec_context.frame_size or 1024
        while fifo.samples and (final or fifo.samples >= size):
            if self.skip:
                dropped = _read(fifo, min(self.skip, fifo.samples))
                self.skip -= dropped.samples
                continue
            take = min(size, fifo.samples)
            if self.samples_left is not None:
                take = min(take, self.samples_left)
            if take <= 0:
                fifo.read(fifo.samples)
                return
            chunk = _read(fifo, take)
            chunk.pts, chunk.time_base = self.written, Fraction(1, OPUS_RATE)
            self.written += chunk.samples
            if self.samples_left is not None:
                self.samples_left -= chunk.samples
            for out in self.stream.encode(chunk):
                self.container.mux(out)


def _read(fifo: av.AudioFifo, samples: int) -> av.AudioFrame:
    """`samples` samples the fifo is known to hold."""
    frame = fifo.read(samples)
    assert frame is not None, "the fifo held fewer samples than it reported"
    return frame
