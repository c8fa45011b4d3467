"""The like-for-like low-resolution anchor: imfcodec's own base layer without the network.

Every layer shape the encoder can choose (sides 64/96/128 × picture steps 1–4) is coded
exactly as the hybrid codes it (area downscale, the project's fixed-point colour, SVT-AV1
preset 4 in one closed GOP: codec/hybrid/base_layer.py), decoded by dav1d, the skipped
frames filled by repetition and, separately, by the encoder's own integer blend, by its
motion fill and by its timed motion fill, the offsets' bytes counted (random access only:
low delay has no next picture), and bicubic upscaled back. Its
best point at each rate (bench/summary.py) is the front the hybrid is judged against: what
remains of imfcodec's lead over it is the network's. The rate is the elementary stream: the
AV1 packets' bytes, without the payload's length prefixes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..codec.hybrid.base_layer import BASE_FILLS, decode_base, downscale, encode_base, encode_offsets, fill_skipped, split_packets
from ..codec.hybrid.decode import upsampled_frames
from ..codec.hybrid.motion_fill import choose_offsets

LAYER_SIDES = (64, 96, 128)
LAYER_STEPS = (1, 2, 3, 4)
LAYER_CRFS = (63, 59, 55, 50, 45)
# --anchors name -> low delay
LAYER_ANCHORS = {"svtav1-lowres": True, "svtav1-lowres-ra": False}


@dataclass
class LayerResult:
    label: str  # "svtav1-lowres-ra-96-s4-linear": anchor, side, picture step, fill
    side: int
    step: int
    fill: str
    crf: int
    es_bytes: int
    frames: np.ndarray  # (T, S, S, 3) uint8, upscaled and filled
    encode_fps: float


def layer_fills(step: int, low_delay: bool) -> tuple[str, ...]:
    """The fills a layer is measured with: every fill the codec can name (BASE_FILLS: the
    anchor may use each trick imfcodec uses); every frame coded needs none; low delay only
    repeats."""
    return ("repeat",) if step == 1 or low_delay else BASE_FILLS


def encode_layer_anchor(name: str, reference: np.ndarray, side: int, step: int, crf: int) -> list[LayerResult]:
    """`reference` (T, S, S, 3) uint8 as imfcodec's base layer (side, step, CRF) alone, one
    result per fill."""
    low_delay = LAYER_ANCHORS[name]
    t0 = time.time()
    payload = encode_base(downscale(reference[::step], side), crf, low_delay)
    encode_fps = len(reference) / (time.time() - t0)
    coded = decode_base(payload, -(-len(reference) // step))
    es = sum(len(p) for p in split_packets(payload))
    return filled_results(name, reference, side, step, crf, es, coded, encode_fps, low_delay)


def filled_results(
    name: str, reference: np.ndarray, side: int, step: int, setting: int, nbytes: int, coded: np.ndarray, encode_fps: float, low_delay: bool
) -> list[LayerResult]:
    """A layer's decoded pictures `coded` (K, side, side, 3), one result per fill: filled to
    the reference's frames and bicubic upscaled to its size. `setting`: the CRF or QP. The
    timed fill's offsets are chosen against the reference as imfcodec's encoder chooses
    them, and their bytes are counted with the layer's."""
    results = []
    for fill in layer_fills(step, low_delay):
        offsets, extra = None, 0
        if fill == "timed":
            offsets = choose_offsets(coded, downscale(reference, side), step)
            extra = len(encode_offsets(offsets))
        filled = fill_skipped(coded, len(reference), step, fill, offsets)
        label = f"{name}-{side}-s{step}-{fill}"
        results.append(
            LayerResult(label, side, step, fill, setting, nbytes + extra, upsampled_frames(filled, reference.shape[1]), encode_fps)
        )
    return results
