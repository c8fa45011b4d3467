"""Weights on disk: safetensors plus a JSON config; the shipped models; model ids.

A weights file holds the model's tensors, the prior's integer tables under
`prior.tables` (Q, D, 2K+2) int32, and in its metadata the model config and the
training provenance. A JSON file with the same stem repeats config, provenance and id
for people and tools. The model id is the SHA-256 of that single .safetensors file: the
hash of tensors and config together, so it names exactly what decodes a file.

Models that differ only in configuration share their tensors (imf-small-v2 is imf-small-v1
plus a correction gate): the JSON file of such a model names another model's tensor file
under "tensors", and the model is loaded from that JSON. Its id is still the hash of its
own single-file form, rebuilt in memory from the shared tensors and its own config and
checked against the recorded id at every load. Tensors may be stored in fp16: they are
widened to the model's fp32 on load, the same way on every run.

Nothing on this path unpickles: a file that is not safetensors is refused before it is parsed.
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
from safetensors.torch import load_file, save, save_file

from .. import atomic
from ..atomic import atomic_path
from ..errors import ImfcodecError
from .build import HYBRID_MODELS, build_model
from .config import IMFConfig
from .flow_hybrid import FlowHybrid
from .hybrid import HybridIMF
from .imf import IMF

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "imf-hybrid-v4"  # the default mode's (hybrid): encode, bench and resolve_model(None)
DEFAULT_TOKEN_MODEL = "imf-small-v2"  # the token mode's: --base-size 0 without --model
TABLES_KEY = "prior.tables"
FORMAT = "imfcodec-weights-1"


class WeightsError(ImfcodecError):
    """A weights file is missing, malformed or not the one asked for."""


@dataclass
class LoadedModel:
    model: IMF | HybridIMF | FlowHybrid
    tables: np.ndarray | None  # (Q, D, 2K+2) int32, or None for a model not yet exported
    model_id: str
    provenance: dict[str, Any]
    path: Path
    # Ids of earlier forms of these weights (the fp32 export a shipped fp16 file was rounded
    # from) whose files this model decodes within the golden tolerance (tests/golden.py).
    supersedes: tuple[str, ...] = ()

    def decodes(self, model_id: str) -> bool:
        """Whether a file whose header names `model_id` is this model's to decode."""
        return model_id == self.model_id or model_id in self.supersedes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata(config: dict[str, Any], provenance: dict[str, Any]) -> dict[str, str]:
    """The single-file form's metadata. `config` as recorded (not re-serialised through
    IMFConfig, whose later fields would change the bytes and so the id).
    One metadata key: safetensors stores metadata as a hash map whose order varies from
    run to run, and the model id (the file's hash) must not."""
    info = {"format": FORMAT, "config": config, "provenance": provenance}
    return {"imfcodec": json.dumps(info, sort_keys=True)}


def _single_file_id(tensors: dict[str, torch.Tensor], config: dict[str, Any], provenance: dict[str, Any]) -> str:
    """The id a model has: the SHA-256 of its single .safetensors file, made in memory."""
    return hashlib.sha256(save(tensors, metadata=_metadata(config, provenance))).hexdigest()


def save_weights(
    model: IMF | HybridIMF | FlowHybrid,
    path: str | Path,
    tables: np.ndarray | None = None,
    provenance: dict[str, Any] | None = None,
    dtype: torch.dtype = torch.float32,
    supersedes: tuple[str, ...] = (),
    keep_fp32: tuple[str, ...] = (),
) -> str:
    """Write `path` (.safetensors) and its .json sidecar atomically; returns the model id.
    `dtype`: how floating-point tensors are stored (fp32, or fp16 at half the size);
    `supersedes`: ids of earlier forms of the same weights whose files it decodes;
    `keep_fp32`: name prefixes of tensors stored in fp32 whatever `dtype` (a token model's ET:
    its token of the keyframe starts every group's prediction, and fp16 moves it)."""
    path = Path(path)

    def stored(name: str, v: torch.Tensor) -> torch.Tensor:
        if not v.is_floating_point() or name.startswith(keep_fp32):
            return v.detach().cpu().contiguous()
        return v.to(dtype).detach().cpu().contiguous()

    tensors = {k: stored(k, v) for k, v in model.state_dict().items()}
    if tables is not None:
        tensors[TABLES_KEY] = torch.from_numpy(np.ascontiguousarray(tables, dtype=np.int32))
    config = json.loads(model.config.to_json())
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=_metadata(config, provenance or {}))
    model_id = file_sha256(path)
    sidecar = {
        "model_id": model_id,
        "config": config,
        "provenance": provenance or {},
        "has_entropy_tables": tables is not None,
    }
    if supersedes:
        sidecar["supersedes"] = list(supersedes)
    atomic.write_text(path.with_suffix(".json"), json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return model_id


def write_shared_model(config: dict[str, Any], provenance: dict[str, Any], tensors_file: Path, path: Path) -> str:
    """A model that reuses `tensors_file` (same folder) with its own config: writes the JSON
    `path` that names it, and returns the model id (the hash of its single-file form)."""
    tensors = load_file(str(tensors_file))
    model_id = _single_file_id(tensors, config, provenance)
    manifest = {
        "model_id": model_id,
        "config": config,
        "provenance": provenance,
        "has_entropy_tables": TABLES_KEY in tensors,
        "tensors": tensors_file.name,
        "tensors_sha256": file_sha256(tensors_file),
    }
    atomic.write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
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


def _read_manifest(path: Path) -> tuple[dict[str, Any], Path]:
    """A shared-tensor model's JSON: its fields, and its tensor file (a name in the same folder)."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: not a model description ({exc})") from None
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), str) for k in ("model_id", "tensors", "tensors_sha256")):
        raise WeightsError(f"{path}: not a model description (model_id, tensors and tensors_sha256 are needed)")
    if not isinstance(manifest.get("config"), dict) or not isinstance(manifest.get("provenance", {}), dict):
        raise WeightsError(f"{path}: a model description needs its config and provenance as maps")
    name = manifest["tensors"]
    if Path(name).name != name or not name.endswith(".safetensors"):
        raise WeightsError(f"{path}: tensors must name a .safetensors file beside it, got {name!r}")
    return manifest, path.parent / name


def load_weights(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model saved by `save_weights` (a .safetensors file) or described by a shared-
    tensor JSON (write_shared_model); the model is in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if path.suffix == ".json":
        manifest, tensor_path = _read_manifest(path)
        if not tensor_path.is_file() or file_sha256(tensor_path) != manifest["tensors_sha256"]:
            raise WeightsError(f"{path}: its tensor file {tensor_path.name} is missing or not the one it was made with")
        _read_safetensors_metadata(tensor_path)  # refuses anything that is not our safetensors
        try:
            config = IMFConfig.from_dict(manifest["config"])
        except (TypeError, ValueError) as exc:
            raise WeightsError(f"{path}: bad config ({exc})") from None
        provenance = manifest.get("provenance", {})
        tensors = load_file(str(tensor_path), device="cpu")
        model_id = _single_file_id(tensors, manifest["config"], provenance)
        if model_id != manifest["model_id"]:
            raise WeightsError(f"{path}: its tensors and config hash to {model_id[:12]}…, not the recorded id {manifest['model_id'][:12]}…")
        supersedes = manifest.get("supersedes", [])
    else:
        meta = _read_safetensors_metadata(path)
        supersedes = _sidecar(path).get("supersedes", [])
        config = IMFConfig.from_dict(meta["config"])
        provenance = meta.get("provenance", {})
        tensors = load_file(str(path), device="cpu")
        model_id = file_sha256(path)
    tables = tensors.pop(TABLES_KEY, None)
    model = build_model(config)
    # Floating-point tensors stored in fp16 are widened to the parameters' fp32 by the copy.
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{path}: weights do not match the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.to(device).eval()
    if isinstance(model, HYBRID_MODELS):
        # Channels-last convolutions (oneDNN): the whole decode command about 5 % faster on
        # 2 cores, the same frames to the bit on the dev clips measured (docs/BENCHMARKS.md).
        # Only the hybrid, whose output feeds no closed loop: a token model's frames decide
        # what the encoder sends, and its numerics stay exactly as they were.
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; the stubs omit it
    return LoadedModel(
        model=model,
        tables=None if tables is None else tables.numpy().astype(np.int32),
        model_id=model_id,
        provenance=provenance,
        path=path,
        supersedes=tuple(str(i) for i in supersedes) if isinstance(supersedes, list) else (),
    )


def _sidecar(path: Path) -> dict[str, Any]:
    """The JSON beside a .safetensors file, or {} where there is none or it is unreadable."""
    try:
        data = json.loads(path.with_suffix(".json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def shipped_models() -> dict[str, Path]:
    """Name -> path of every model shipped inside the package (old defaults included): its
    .safetensors file, or the JSON of a model that shares another's tensors."""
    models = {}
    for sidecar in sorted(SHIPPED_DIR.glob("*.json")):
        own = sidecar.with_suffix(".safetensors")
        if own.is_file():
            models[sidecar.stem] = own
        elif '"tensors"' in sidecar.read_text():
            models[sidecar.stem] = sidecar
    return models


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
        sidecar = _sidecar(path)
        if model_id in sidecar.get("supersedes", []):
            return path  # a file of an earlier form of these weights (load_weights checks the current id)
        if sidecar.get("model_id") != model_id:
            continue
        if path.suffix == ".json":
            return path  # load_weights checks the id against the tensors it rebuilds it from
        if file_sha256(path) == model_id:
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
