"""The base picture of a frame the base layer skips, drawn by motion from its two coded
neighbours (HEAD `bf` = "motion", format 1.3) instead of blended (`linear`).

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


def motion_fill(coded: np.ndarray, frame_count: int, step: int) -> np.ndarray:
    """(K, B, B, 3) uint8 pictures of every `step`-th frame -> (frame_count, B, B, 3) uint8:
    the coded pictures in place, each skipped frame between two of them drawn by motion; a
    skipped frame after the last coded picture repeats it (as every fill does)."""
    import cv2

    cv2.setNumThreads(1)  # the same flow whatever the host's cores
    out = np.repeat(coded, step, axis=0)[:frame_count]
    if step == 1 or len(coded) < 2:
        return out
    side = coded.shape[1]
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]  # the stubs miss it
    for k in range(len(coded) - 1):
        first = k * step
        if first + 1 >= frame_count:
            break
        a, b = coded[k], coded[k + 1]
        la, lb = _luma(a), _luma(b)
        ab = dis.calc(la, lb, None)  # a at x shows what b shows at x + ab(x)
        ba = dis.calc(lb, la, None)
        for j in range(1, min(step, frame_count - first)):
            t = j / step
            to_a = -(1 - t) * t * ab + t * t * ba  # from the frame at t to a
            to_b = (1 - t) * (1 - t) * ab - t * (1 - t) * ba  # and to b
            mixed = (1 - t) * _warp(a, to_a, (xs, ys)) + t * _warp(b, to_b, (xs, ys))
            out[first + j] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out
