"""Audio: the first audio stream re-encoded to Opus for the container, and back out for muxing."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

OPUS_RATE = 48000


def encode_audio(
    path: str | Path, bitrate_kbps: int, max_seconds: float | None = None
) -> tuple[dict[str, Any], Iterator[list[tuple[int, int, bytes]]]] | None:
    """Opus packets of the first audio stream, in batches of about one second.

    Returns (meta, batches) or None when the input has no audio. Packet pts are in
    1/48000 s, counted from the start of the video stream (audio before it is dropped).
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
    layout = "stereo" if (stream.codec_context.channels or 1) >= 2 else "mono"
    encoder = av.CodecContext.create("libopus", "w")
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

    def batches() -> Iterator[list[tuple[int, int, bytes]]]:
        pending: list[tuple[int, int, bytes]] = []
        fifo = av.AudioFifo()
        limit = None if max_seconds is None else int(max_seconds * OPUS_RATE)
        written = 0
        skip = int(round(max(0.0, video_start - float((stream.start_time or 0) * stream.time_base)) * OPUS_RATE)) if stream.time_base else 0

        def drain(frames: list[av.AudioFrame]) -> Iterator[list[tuple[int, int, bytes]]]:
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
                frame.pts = None
                for rf in resampler.resample(frame):
                    fifo.write(rf)
                while fifo.samples >= 960:
                    chunk = fifo.read(960)
                    if skip > 0:
                        skip -= 960
                        continue
                    if limit is not None and written >= limit:
                        break
                    chunk.pts = written
                    written += 960
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
    """Decode the stored Opus packets and re-encode them into the output container
    (AAC in .mp4/.mov, FLAC in .mkv), timed from the first video frame."""

    def __init__(self, container: av.container.OutputContainer, meta: dict[str, Any], packets: list[tuple[int, int, bytes]]) -> None:
        self.container = container
        self.packets = packets
        self.decoder = av.CodecContext.create("libopus", "r")
        self.decoder.sample_rate = meta["sample_rate"]
        self.decoder.layout = meta["layout"]
        if meta.get("extradata"):
            self.decoder.extradata = meta["extradata"]
        is_mkv = Path(container.name).suffix.lower() == ".mkv"
        self.stream = container.add_stream("flac" if is_mkv else "aac", rate=OPUS_RATE)
        self.stream.layout = meta["layout"]
        if not is_mkv:
            self.stream.bit_rate = 128_000
        self.resampler = av.AudioResampler(format=self.stream.codec_context.format.name, layout=meta["layout"], rate=OPUS_RATE)

    def write_all(self) -> None:
        pts = 0
        for packet_pts, _duration, data in self.packets:
            packet = av.Packet(data)
            packet.pts = packet_pts
            packet.time_base = Fraction(1, OPUS_RATE)
            for frame in self.decoder.decode(packet):
                frame.pts = None
                for rf in self.resampler.resample(frame):
                    rf.pts = pts
                    pts += rf.samples
                    for out in self.stream.encode(rf):
                        self.container.mux(out)
        for out in self.stream.encode(None):
            self.container.mux(out)
