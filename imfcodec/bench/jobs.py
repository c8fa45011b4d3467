"""The bench's anchor encodes: which to run (a sweep per anchor) and one run's records."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..rate import kbps
from .anchors import ANCHORS, encode_anchor_guarded
from .layer_anchor import LAYER_ANCHORS, LAYER_CRFS, LAYER_SIDES, encode_layer_anchor
from .vvc_anchor import VVC_ANCHORS, VVC_QPS, encode_vvc_anchor


def anchor_jobs(anchors: list[str], steps: tuple[int, ...]) -> list[tuple[str, Any]]:
    """The encodes of `anchors`: (kind, argument). Layer anchors sweep LAYER_SIDES × `steps` ×
    their CRFs or QPs; full-size anchors their own sweep (`steps` does not apply)."""
    jobs: list[tuple[str, Any]] = []
    for a in anchors:
        if a in LAYER_ANCHORS:
            jobs += [(a, (side, step, crf)) for side in LAYER_SIDES for step in steps for crf in LAYER_CRFS]
        elif a == "vvenc-lowres":
            jobs += [(a, (side, step, qp)) for side in LAYER_SIDES for step in steps for qp in VVC_QPS]
        elif 1 in steps:
            jobs += [(a, qp) for qp in VVC_QPS] if a == "vvenc" else [(a, crf) for crf in ANCHORS[a][2]]
    return jobs


def anchor_points(kind: str, arg: Any, reference: np.ndarray, fps: Fraction, work: Path) -> list[dict[str, Any]]:
    """The records of one anchor job (a like-for-like layer gives one per fill), with "decoded"."""
    n = len(reference)
    if kind in LAYER_ANCHORS or kind in VVC_ANCHORS:
        if kind == "vvenc":
            results = encode_vvc_anchor(kind, reference, float(fps), arg)
        elif kind == "vvenc-lowres":
            results = encode_vvc_anchor(kind, reference, float(fps), arg[2], side=arg[0], step=arg[1])
        else:
            results = encode_layer_anchor(kind, reference, *arg)
        return [
            {
                "codec": r.label,
                "point": {"qp" if kind in VVC_ANCHORS else "crf": r.crf, "side": r.side, "step": r.step, "fill": r.fill},
                "kbps": kbps(r.es_bytes, n, float(fps)),
                "file_kbps": kbps(r.es_bytes, n, float(fps)),
                "bytes": r.es_bytes,
                "encode_fps": r.encode_fps,
                "decode_fps": float("nan"),
                "decoded": r.frames,
            }
            for r in results
        ]
    res = encode_anchor_guarded(kind, reference, fps, arg, work)
    return [
        {
            "codec": kind,
            "point": {"crf": res.crf},
            "kbps": kbps(res.es_bytes, n, float(fps)),
            "file_kbps": kbps(res.file_bytes, n, float(fps)),
            "bytes": res.es_bytes,
            "encode_fps": res.encode_fps,
            "decode_fps": res.decode_fps,
            "decoded": res.frames,
        }
    ]
