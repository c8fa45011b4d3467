"""The base picture of a frame the base layer skips, drawn by motion from its two coded
neighbours (HEAD `bf` = "motion", format 1.3) instead of blended (`linear`), at its own
time (`motion`) or at a time the encoder chose and sent (`timed`, format 1.4).

A blend of two pictures of a moving mouth shows both mouths, faintly; moving each
neighbour along the motion between them to the frame's time shows one. Per pair of coded
pictures a, b (every p-th frame): DIS optical flow both ways at the base's own side, the
flow from a frame at time t in (0, 1) to each neighbour by the linear-motion approximation
of Jiang et al. (Super SloMo, CVPR 2018), each neighbour warped along it (bilinear, edges
repeated) and the two mixed by distance, (1 - t) a' + t b'. The flow is OpenCV's DIS at
preset medium on one thread, as hybrid v2's. Like the network's output, these pictures are
float arithmetic and may differ across machines and OpenCV builds in the last bits; nothing
later depends on them (the coded pictures are dav1d's, exact, and each filled picture feeds
only its own frame), so a difference never spreads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np


def _luma(picture: np.ndarray) -> np.ndarray:
    """(B, B, 3) uint8 RGB -> (B, B) uint8 luma (BT.601 weights: motion, not colour)."""
    import cv2

    return np.asarray(cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY))


def _warp(picture: np.ndarray, flow: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """picture (B, B, 3) uint8 sampled at x + flow(x), flow (B, B, 2) pixels: (B, B, 3) float32."""
    import cv2

    xs, ys = grid
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    return np.asarray(cv2.remap(picture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), np.float32)


# A timed fill (HEAD `bf` = "timed", format 1.4) moves each skipped frame's time by an
# integer offset in eighths of the way between its coded neighbours, chosen by the encoder
# against the source: motion is not uniform (a mouth opens, then holds), and 0, 1/8, ..., 1
# reach every picture on the path, the two neighbours themselves included.
OFFSET_EIGHTHS = 8
MAX_OFFSET = 8  # offsets run -8..8: from the earlier neighbour to the later at any j / p


def filled_frames(frame_count: int, step: int) -> int:
    """How many frames of a group of `frame_count` whose layer codes every `step`-th frame
    lie between two coded pictures (the frames a timed fill carries an offset for)."""
    last_coded = (frame_count - 1) // step * step
    return last_coded - last_coded // step if step > 1 else 0


def frame_time(j: int, step: int, offset: int) -> float:
    """The time in (0, 1) between two coded pictures at which skipped frame j of `step` is
    drawn: j / step, moved by `offset` eighths, clamped to [0, 1]."""
    return min(1.0, max(0.0, j / step + offset / OFFSET_EIGHTHS))


# The flows of the last pairs of pictures: the encoder draws a group's frames between
# several times (scoring the fills, choosing the offsets, the in-loop decode), each time
# from the same coded pictures, and DIS is the cost. The same flows, so the same pictures.
_FLOWS: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
FLOWS_KEPT = 128  # pairs: a 250-frame group at every 2nd picture; 256 kB a pair at 128², 33 MB in all


class _Between:
    """The pictures on the path between coded pictures a and b (B, B, 3) uint8: their DIS
    flows both ways, and the picture at any time t by the linear-motion approximation."""

    def __init__(self, a: np.ndarray, b: np.ndarray, dis: object, grid: tuple[np.ndarray, np.ndarray]) -> None:
        self.a, self.b, self.dis, self.grid = a, b, dis, grid
        self._pictures: dict[float, np.ndarray] = {}  # by time: the encoder's search asks for some again
        key = hashlib.sha1(np.ascontiguousarray(a).tobytes() + np.ascontiguousarray(b).tobytes()).digest()
        if key not in _FLOWS:
            la, lb = _luma(a), _luma(b)
            _FLOWS[key] = dis.calc(la, lb, None), dis.calc(lb, la, None)  # type: ignore[attr-defined]
            while len(_FLOWS) > FLOWS_KEPT:
                del _FLOWS[next(iter(_FLOWS))]
        self.ab, self.ba = _FLOWS[key]  # a at x shows what b shows at x + ab(x); ba the other way

    def flows_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The flows from the frame at time t to a and to b, (B, B, 2) each."""
        to_a = -(1 - t) * t * self.ab + t * t * self.ba
        to_b = (1 - t) * (1 - t) * self.ab - t * (1 - t) * self.ba
        return to_a, to_b

    def mixed(self, t: float, to_a: np.ndarray, to_b: np.ndarray) -> np.ndarray:
        """a and b warped along the given flows and mixed by distance: (B, B, 3) float32."""
        return (1 - t) * _warp(self.a, to_a, self.grid) + t * _warp(self.b, to_b, self.grid)

    def at(self, t: float) -> np.ndarray:
        """The picture at time t, (B, B, 3) uint8."""
        if t not in self._pictures:
            self._pictures[t] = np.clip(self.mixed(t, *self.flows_at(t)) + 0.5, 0, 255).astype(np.uint8)
        return self._pictures[t]


def _dis_and_grid(side: int) -> tuple[object, tuple[np.ndarray, np.ndarray]]:
    import cv2

    cv2.setNumThreads(1)  # the same flow whatever the host's cores
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), (xs, ys)  # type: ignore[attr-defined]  # the stubs miss it


def frames_between(coded: np.ndarray, frame_count: int, step: int) -> Iterator[tuple[int, int, _Between]]:
    """(frame, j, path) for each frame kp + j (0 < j < step) between two coded pictures P_k,
    P_k+1 of a group of `frame_count` (`coded`: (K, B, B, 3) uint8, every `step`-th frame),
    in frame order; `path` is the pair's, one per pair."""
    if step == 1 or len(coded) < 2:
        return
    dis, grid = _dis_and_grid(coded.shape[1])
    for k in range(len(coded) - 1):
        first = k * step
        if first + 1 >= frame_count:
            break
        path = _Between(coded[k], coded[k + 1], dis, grid)
        for j in range(1, min(step, frame_count - first)):
            yield first + j, j, path


def motion_fill(coded: np.ndarray, frame_count: int, step: int, offsets: np.ndarray | None = None) -> np.ndarray:
    """(K, B, B, 3) uint8 pictures of every `step`-th frame -> (frame_count, B, B, 3) uint8:
    the coded pictures in place, each skipped frame between two of them drawn by motion; a
    skipped frame after the last coded picture repeats it (as every fill does). `offsets`
    (filled_frames(frame_count, step),) int, in frame order: each such frame's time moved
    (frame_time; the timed fill); None, all 0: the motion fill."""
    out = np.repeat(coded, step, axis=0)[:frame_count]
    if step == 1 or len(coded) < 2:
        return out
    if offsets is not None and len(offsets) != filled_frames(frame_count, step):
        raise ValueError(f"{len(offsets)} time offsets for {filled_frames(frame_count, step)} frames between coded pictures")
    for n, (frame, j, path) in enumerate(frames_between(coded, frame_count, step)):
        out[frame] = path.at(frame_time(j, step, 0 if offsets is None else int(offsets[n])))
    return out


def _search_offset(path: _Between, target: np.ndarray, j: int, step: int) -> int:
    """choose_offsets' search for skipped frame j of `step` on `path` (`target`: its source
    at the base side, int32)."""

    def error(o: int) -> int:
        return int(((path.at(frame_time(j, step, o)).astype(np.int32) - target) ** 2).sum())

    best, best_error = 0, error(0)
    for direction in (-1, 1):  # the earlier side first: of equals, the earlier time
        o = best + direction
        while abs(o) <= MAX_OFFSET and (e := error(o)) < best_error:
            best, best_error = o, e
            o += direction
        if best != 0:
            break
    return best


def choose_offsets(coded: np.ndarray, truth: np.ndarray, step: int) -> np.ndarray:
    """The encoder's side of the timed fill: for each frame between two coded pictures, an
    offset in -MAX_OFFSET..MAX_OFFSET whose picture is near `truth` (T, B, B, 3), the
    source at the base side, by squared error: from 0 (the motion fill's own time) one
    eighth at a time towards the earlier neighbour, then the later, while the error falls
    (the error along the path mostly has one valley: on the six dev clips' 128² layers every
    4th-7th picture, the search over all 17 chose the same offsets for 979 of 1,028 frames,
    the rest on a still clip 0.002 dB apart, in twice the time). -> (filled_frames(T, step),) int64."""
    between = frames_between(coded, len(truth), step)
    return np.asarray([_search_offset(path, truth[frame].astype(np.int32), j, step) for frame, j, path in between], np.int64)
