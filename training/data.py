"""Training data: a frame cache decoded once, and (reference, current) pairs drawn from it.

The cache holds every clip's frames at the model size as one uint8 memory-mapped array,
plus copies of every `REF_STRIDE`-th frame passed through the keyframe codec at a random
quality: the model learns from the keyframes the codec will really give it.

Pairs are a pure function of (seed, rank, step): a resumed run draws exactly the batches
the uninterrupted run would have, and ranks draw disjoint random streams, which is what a
DistributedSampler with per-rank seeds provides, without an epoch to track.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from imfcodec.codec.keyframes import DEFAULT_KEYFRAME_CODEC, get_codec
from imfcodec.codec.video_io import VideoInputError, iter_frames

from ..atomic import atomic_path

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".y4m", ".m4v"}
REF_STRIDE = 5
T = TypeVar("T")


def list_videos(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such data folder")
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise FileNotFoundError(f"{folder}: no videos found")
    return videos


@dataclass
class FrameCache:
    frames: np.ndarray  # (N, S, S, 3) uint8
    refs: np.ndarray  # (R, S, S, 3) uint8, degraded keyframes
    ref_frame: np.ndarray  # (R,) index into frames of each degraded reference
    ref_clip: np.ndarray  # (R,) clip of each reference
    clip_start: np.ndarray  # (C,)
    clip_length: np.ndarray  # (C,)
    names: list[str]


def _cache_key(videos: list[Path], size: int, max_frames: int, qualities: tuple[int, int], seed: int) -> str:
    h = hashlib.sha256()
    for v in videos:
        h.update(f"{v.name}:{v.stat().st_size}".encode())
    h.update(f"{size}:{max_frames}:{qualities}:{seed}:{REF_STRIDE}:{DEFAULT_KEYFRAME_CODEC}".encode())
    return h.hexdigest()[:16]


def build_frame_cache(
    data_dir: str | Path, cache_root: str | Path, size: int, max_frames: int, qualities: tuple[int, int], seed: int = 0
) -> Path:
    """Decode every video under `data_dir` once into `cache_root/<key>/`; returns that folder.
    Built in a temporary folder and renamed, so a killed build leaves nothing half-written."""
    videos = list_videos(data_dir)
    target = Path(cache_root) / _cache_key(videos, size, max_frames, qualities, seed)
    if (target / "index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target, folder=True) as tmp:
            _fill_frame_cache(tmp, videos, size, max_frames, qualities, seed)
    except FileExistsError:  # another worker finished it first
        pass
    return target


def _decode_clip(video: Path, size: int, max_frames: int) -> np.ndarray | None:
    """One clip's frames (T, size, size, 3) uint8, or None for a clip that cannot be used."""
    try:
        frames = np.stack(list(iter_frames(video, size=size, max_frames=max_frames)))
    except VideoInputError as exc:
        print(f"skipping {exc}")
        return None
    return frames if len(frames) >= 2 else None


def _degrade(frames: np.ndarray, qualities: list[int]) -> np.ndarray:
    """Every REF_STRIDE-th frame through the keyframe codec at its quality: (R, S, S, 3) uint8."""
    codec = get_codec(DEFAULT_KEYFRAME_CODEC)
    return np.stack([codec.decode(codec.encode(frames[i * REF_STRIDE], q)) for i, q in enumerate(qualities)])


def parallel_map(fn: Callable[..., T], jobs: list[tuple[Any, ...]]) -> list[T]:
    """fn(*job) for each job, in order, across the machine's cores (in this process when it
    has one core or one job). The cache's decoding and AV1 coding are per clip and
    independent, so a 16-core machine builds it about 16 times faster."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(*job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(fn, *zip(*jobs)))


def _fill_frame_cache(tmp: Path, videos: list[Path], size: int, max_frames: int, qualities: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    decoded = parallel_map(_decode_clip, [(v, size, max_frames) for v in videos])
    clips = [c for c in decoded if c is not None]
    names = [v.name for v, c in zip(videos, decoded) if c is not None]
    if not clips:
        raise FileNotFoundError(f"{videos[0].parent if videos else 'the data folder'}: no readable videos")
    # Qualities drawn in clip order, as one sequential pass would: the cache is the same
    # whatever the number of cores.
    ref_qualities = [[int(rng.integers(qualities[0], qualities[1] + 1)) for _ in range(0, len(c), REF_STRIDE)] for c in clips]
    refs = parallel_map(_degrade, list(zip(clips, ref_qualities)))
    total = sum(len(c) for c in clips)
    frames_mm = np.lib.format.open_memmap(tmp / "frames.npy", mode="w+", dtype=np.uint8, shape=(total, size, size, 3))
    starts, lengths, ref_frame, ref_clip = [], [], [], []
    pos = 0
    for ci, clip in enumerate(clips):
        frames_mm[pos : pos + len(clip)] = clip
        starts.append(pos)
        lengths.append(len(clip))
        ref_frame += [pos + i for i in range(0, len(clip), REF_STRIDE)]
        ref_clip += [ci] * len(refs[ci])
        pos += len(clip)
    frames_mm.flush()
    np.save(tmp / "refs.npy", np.concatenate(refs))
    index = {
        "names": names,
        "clip_start": starts,
        "clip_length": lengths,
        "ref_frame": ref_frame,
        "ref_clip": ref_clip,
        "size": size,
    }
    (tmp / "index.json").write_text(json.dumps(index))


def open_frame_cache(folder: str | Path) -> FrameCache:
    folder = Path(folder)
    index = json.loads((folder / "index.json").read_text())
    return FrameCache(
        frames=np.load(folder / "frames.npy", mmap_mode="r"),
        refs=np.load(folder / "refs.npy", mmap_mode="r"),
        ref_frame=np.asarray(index["ref_frame"], dtype=np.int64),
        ref_clip=np.asarray(index["ref_clip"], dtype=np.int64),
        clip_start=np.asarray(index["clip_start"], dtype=np.int64),
        clip_length=np.asarray(index["clip_length"], dtype=np.int64),
        names=index["names"],
    )


def curriculum_distance(step: int, start: int, final: int, ramp_steps: int) -> int:
    """Largest reference-to-current distance sampled at `step` (linear ramp)."""
    if ramp_steps <= 0:
        return final
    frac = min(1.0, step / ramp_steps)
    return int(round(start + (final - start) * frac))


def sample_pairs(
    cache: FrameCache,
    step: int,
    rank: int,
    batch: int,
    max_distance: int,
    same_frame_prob: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of (reference, current) pairs, both (B, 3, S, S) float in [0, 1].

    The reference is the keyframe-codec copy of its frame. A same-frame pair (probability
    `same_frame_prob`) asks for the clean frame back from its degraded copy.
    Same augmentation on both images of a pair: horizontal flip, brightness and contrast.
    """
    rng = np.random.default_rng([seed, rank, step])
    refs, curs = [], []
    for _ in range(batch):
        r = int(rng.integers(len(cache.ref_frame)))
        clip = int(cache.ref_clip[r])
        start, length = int(cache.clip_start[clip]), int(cache.clip_length[clip])
        ref_pos = int(cache.ref_frame[r])
        same = rng.random() < same_frame_prob
        if same:
            cur_pos = ref_pos
        else:
            d = int(rng.integers(1, max(1, max_distance) + 1)) * (1 if rng.random() < 0.5 else -1)
            cur_pos = min(max(ref_pos + d, start), start + length - 1)
        ref = np.asarray(cache.refs[r], dtype=np.float32) / 255.0
        cur = np.asarray(cache.frames[cur_pos], dtype=np.float32) / 255.0
        if rng.random() < 0.5:
            ref, cur = ref[:, ::-1], cur[:, ::-1]
        gain = 1.0 + rng.uniform(-0.1, 0.1)
        shift = rng.uniform(-0.05, 0.05)
        ref = np.clip((ref - 0.5) * gain + 0.5 + shift, 0, 1)
        cur = np.clip((cur - 0.5) * gain + 0.5 + shift, 0, 1)
        refs.append(ref)
        curs.append(cur)

    def to_tensor(batch_list: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.stack(batch_list))).permute(0, 3, 1, 2).contiguous()

    return to_tensor(refs), to_tensor(curs)


def load_validation_clips(folder: str | Path, size: int, max_frames: int) -> dict[str, np.ndarray]:
    """Dev clips as {name: (T, S, S, 3) uint8}, first `max_frames` frames of each."""
    return {v.name: np.stack(list(iter_frames(v, size=size, max_frames=max_frames))) for v in list_videos(folder)}
