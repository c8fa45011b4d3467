"""Weights on disk: safetensors plus a JSON config; the shipped models; model ids.

A weights file holds the model's tensors, the prior's integer tables under
`prior.tables` (Q, D, 2K+2) int32, and in its metadata the model config and the
training provenance. A JSON file with the same stem repeats config, provenance and id
for people and tools. The model id is the SHA-256 of the .safetensors file. Nothing on
this path unpickles: a file that is not safetensors is refused before it is parsed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .. import atomic
from ..atomic import atomic_path
from ..errors import ImfcodecError
from .config import IMFConfig
from .hybrid import HybridIMF
from .imf import IMF

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "imf-small-v2"  # the token mode's
DEFAULT_HYBRID_MODEL = "imf-hybrid-v1"  # the hybrid mode's: --base-size or --bitrate without --model
TABLES_KEY = "prior.tables"
FORMAT = "imfcodec-weights-1"


class WeightsError(ImfcodecError):
    """A weights file is missing, malformed or not the one asked for."""


@dataclass
class LoadedModel:
    model: IMF | HybridIMF
    tables: np.ndarray | None  # (Q, D, 2K+2) int32, or None for a model not yet exported
    model_id: str
    provenance: dict[str, Any]
    path: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(
    model: IMF | HybridIMF, path: str | Path, tables: np.ndarray | None = None, provenance: dict[str, Any] | None = None
) -> str:
    """Write `path` (.safetensors) and its .json sidecar atomically; returns the model id."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if tables is not None:
        tensors[TABLES_KEY] = torch.from_numpy(np.ascontiguousarray(tables, dtype=np.int32))
    # One metadata key: safetensors stores metadata as a hash map whose order varies from
    # run to run, and the model id (the file's hash) must not.
    info = {"format": FORMAT, "config": json.loads(model.config.to_json()), "provenance": provenance or {}}
    metadata = {"imfcodec": json.dumps(info, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    model_id = file_sha256(path)
    sidecar = {
        "model_id": model_id,
        "config": info["config"],
        "provenance": provenance or {},
        "has_entropy_tables": tables is not None,
    }
    atomic.write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return model_id


def _read_safetensors_metadata(path: Path) -> dict[str, Any]:
    """The imfcodec part of a safetensors file's metadata, read by safetensors' own header
    parser, which never unpickles: anything else (a pickle, text, a folder) is refused."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except SafetensorError as exc:
        raise WeightsError(f"{path}: not a safetensors file ({exc}; refusing to load it, pickles are never loaded)") from None
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weights: {exc.strerror or exc}") from None
    try:
        info = json.loads(meta.get("imfcodec", "{}"))
    except json.JSONDecodeError:
        info = None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise WeightsError(f"{path}: safetensors file without an imfcodec model config")
    return info


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model saved by `save_weights`; the model is in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    meta = _read_safetensors_metadata(path)
    config = IMFConfig.from_dict(meta["config"])
    tensors = load_file(str(path), device="cpu")
    tables = tensors.pop(TABLES_KEY, None)
    model = HybridIMF(config) if config.architecture == "hybrid" else IMF(config)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(device).eval()
    return LoadedModel(
        model=model,
        tables=None if tables is None else tables.numpy().astype(np.int32),
        model_id=file_sha256(path),
        provenance=meta.get("provenance", {}),
        path=path,
    )


def shipped_models() -> dict[str, Path]:
    """Name -> path of every model shipped inside the package (old defaults included)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.safetensors"))}


def resolve_model(name_or_path: str | None) -> Path:
    """A shipped model's name, a path to a .safetensors file, or None for the default."""
    name = name_or_path or DEFAULT_MODEL
    shipped = shipped_models()
    if name in shipped:
        return shipped[name]
    path = Path(name)
    if path.is_file():
        return path
    raise WeightsError(f"unknown model {name!r}: not a file, and the shipped models are {sorted(shipped) or 'none'}")


def find_model_by_id(model_id: str) -> Path | None:
    """The shipped model whose id is `model_id`, if this installation has it."""
    for path in shipped_models().values():
        sidecar = path.with_suffix(".json")
        try:
            recorded = json.loads(sidecar.read_text()).get("model_id")
        except (OSError, json.JSONDecodeError):
            recorded = None
        if recorded == model_id and file_sha256(path) == model_id:
            return path
    return None


def model_for_file(model_id: str, name_or_path: str | None = None) -> Path:
    """The weights that decode a file whose header names `model_id`: `name_or_path` when
    given, else the shipped model with that id."""
    if name_or_path is not None:
        return resolve_model(name_or_path)
    path = find_model_by_id(model_id)
    if path is None:
        raise WeightsError(f"the file needs model {model_id}, which this installation does not have (pass --model)")
    return path
