"""Structure-aware mutations of .imf files for fuzzing: change one chunk's payload (or the
chunk list), then repair every CRC, length and the footer's index pointer, so that the
mutation gets past the framing checks and reaches the parsers and decoders behind them.
Shared by tests/test_fuzz.py and scripts/fuzz_decode.py."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any

PREAMBLE = 6
FOOTER = b"IMFX"


def split(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """A well-formed file -> (preamble, [(type, payload), ...]); the footer is dropped."""
    pos, chunks = PREAMBLE, []
    while data[pos : pos + 4] != FOOTER:
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return data[:PREAMBLE], chunks


def join(preamble: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Chunks framed with their true lengths and CRCs, and a footer that points at the last
    INDX chunk (or at where it would be) with a true CRC."""
    out = bytearray(preamble)
    index_at = None
    for kind, payload in chunks:
        if kind == b"INDX":
            index_at = len(out)
        out += kind + struct.pack("<I", len(payload)) + payload + struct.pack("<I", zlib.crc32(kind + payload))
    tail = FOOTER + struct.pack("<Q", len(out) if index_at is None else index_at)
    return bytes(out + tail + struct.pack("<I", zlib.crc32(tail)))


def _mutate_payload(rng: random.Random, payload: bytes) -> bytes:
    b = bytearray(payload)
    op = rng.randrange(6)
    if op == 0 and b:  # flip bits
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1 and b:  # an extreme byte
        b[rng.randrange(len(b))] = rng.choice([0x00, 0x01, 0x7F, 0x80, 0xC0, 0xFF])
    elif op == 2 and b:  # cut
        del b[rng.randrange(len(b)) :]
    elif op == 3:  # insert junk
        at = rng.randrange(len(b) + 1)
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op == 4 and len(b) >= 4:  # an extreme little-endian u32 somewhere
        at = rng.randrange(len(b) - 3)
        b[at : at + 4] = struct.pack("<I", rng.choice([0, 1, 2**31, 2**32 - 1, rng.randrange(2**32)]))
    elif b:  # duplicate a span
        at = rng.randrange(len(b))
        b[at:at] = b[at : at + rng.randint(1, 32)]
    return bytes(b)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One structure-aware mutation of a well-formed file; returns it and what was done."""
    preamble, chunks = split(data)
    op = rng.randrange(10)
    if op < 7:
        i = rng.randrange(len(chunks))
        chunks[i] = (chunks[i][0], _mutate_payload(rng, chunks[i][1]))
        what = f"payload of {chunks[i][0].decode()} #{i}"
    elif op == 7 and len(chunks) > 2:
        i, j = rng.sample(range(len(chunks)), 2)
        chunks[i], chunks[j] = chunks[j], chunks[i]
        what = f"swapped chunks {i} and {j}"
    elif op == 8 and len(chunks) > 1:
        i = rng.randrange(len(chunks))
        what = f"dropped {chunks.pop(i)[0].decode()} #{i}"
    else:
        i = rng.randrange(len(chunks))
        chunks.insert(rng.randrange(len(chunks) + 1), chunks[i])
        what = f"duplicated {chunks[i][0].decode()} #{i}"
    return join(preamble, chunks), what


def make_seeds(folder: Path, tiny_model: Path) -> list[tuple[str, bytes, Any]]:
    """(name, file bytes, loaded model) of the two seed files: token mode with audio (the
    tiny test model, 10 frames in 3 groups) and hybrid (untrained hybrid-tiny, 6 frames in 2)."""
    import torch

    from imfcodec.codec.encoder import EncodeOptions, encode_video
    from imfcodec.model import HybridIMF, preset
    from imfcodec.model.weights import load_weights, save_weights
    from tests.conftest import synthetic_frames, write_clip

    tiny = load_weights(tiny_model)
    clip = write_clip(folder / "a.mp4", synthetic_frames(10, 64, 64, seed=4), audio=True)
    encode_video(clip, folder / "a.imf", tiny, EncodeOptions(quality=4, max_keyframe_interval=4))
    torch.manual_seed(0)
    save_weights(HybridIMF(preset("hybrid-tiny", size=128)), folder / "h.safetensors")
    hybrid = load_weights(folder / "h.safetensors")
    clip = write_clip(folder / "h.mkv", synthetic_frames(6, 128, 128, seed=4), codec="ffv1", pix_fmt="bgr0")
    encode_video(clip, folder / "h.imf", hybrid, EncodeOptions(base_size=64, base_crf=50, max_keyframe_interval=3))
    return [("tokens+audio", (folder / "a.imf").read_bytes(), tiny), ("hybrid", (folder / "h.imf").read_bytes(), hybrid)]
