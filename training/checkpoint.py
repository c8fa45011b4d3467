"""Checkpoints: weights as safetensors, the rest in a state file read with weights_only=True.

Each checkpoint is a folder `step_NNNNNNN/` written under a temporary name and renamed,
so a kill mid-write leaves the previous checkpoint intact; only the last K are kept.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_path
from ..errors import ImfcodecError


class CheckpointError(ImfcodecError):
    """A checkpoint or run folder that is missing, incomplete or not the one asked for."""


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    dirs = checkpoint_dirs(run_dir)
    return dirs[-1] if dirs else None


def resolve_checkpoint(path: Path) -> Path | None:
    """A checkpoint folder as given, or a run folder's last checkpoint (None: neither)."""
    return path if (path / "weights.safetensors").is_file() else latest_checkpoint(path)


def save_checkpoint(run_dir: Path, step: int, modules: dict[str, torch.nn.Module], state: dict[str, Any], keep: int) -> Path:
    """modules: name -> module whose state_dict goes into weights.safetensors as 'name.key'."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:07d}"
    tensors = {f"{name}.{k}": v.detach().cpu().contiguous() for name, m in modules.items() for k, v in m.state_dict().items()}
    with atomic_path(final, folder=True, replace_folder=True) as tmp:
        save_file(tensors, str(tmp / "weights.safetensors"))
        torch.save(state, tmp / "state.pt")
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


OPTIONAL_MODULES = {"generator_ema"}  # a run may switch its weight average on when resumed


def load_weights(path: Path, modules: dict[str, torch.nn.Module], new_parts_ok: bool = False) -> list[str]:
    """Load a checkpoint folder's weights into `modules` (strictly: names and shapes must
    match; with `new_parts_ok`, parameters the checkpoint lacks keep their initial values,
    for a fine-tune that adds a part). Returns the names of optional modules the file has
    nothing for, left as they are."""
    tensors = load_file(str(path / "weights.safetensors"))
    absent = []
    for name, module in modules.items():
        prefix = name + "."
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if own:
            result = module.load_state_dict(own, strict=not new_parts_ok)
            if result.unexpected_keys:
                raise CheckpointError(f"{path}: {name} has no parameters {result.unexpected_keys[:4]}")
            if result.missing_keys:
                print(f"{path}: {len(result.missing_keys)} {name} tensors not in the checkpoint start fresh", flush=True)
        elif name in OPTIONAL_MODULES:
            absent.append(name)
        else:
            raise CheckpointError(f"{path}: the checkpoint holds no {name!r} weights")
    return absent


def load_checkpoint(path: Path, modules: dict[str, torch.nn.Module]) -> dict[str, Any]:
    """Load weights into `modules` and return the state dict (optimizer, step, RNG, ...)."""
    absent = load_weights(path, modules)
    state = torch.load(path / "state.pt", weights_only=True)
    state["absent_modules"] = absent
    return state


def load_latest_intact(run_dir: Path, modules: dict[str, torch.nn.Module]) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads whole, loaded into `modules`, and its state; a
    damaged one (a kill or a full disk mid-write on a file system without atomic renames,
    a truncated copy) is reported and the one before it tried. None: no checkpoint."""
    for ckpt in reversed(checkpoint_dirs(run_dir)):
        try:
            return ckpt, load_checkpoint(ckpt, modules)
        except (SafetensorError, RuntimeError, EOFError, OSError, pickle.UnpicklingError, KeyError, CheckpointError) as exc:
            warnings.warn(f"{ckpt} is damaged ({type(exc).__name__}: {str(exc)[:120]}); trying the checkpoint before it", stacklevel=2)
    if checkpoint_dirs(run_dir):
        raise CheckpointError(f"{run_dir}: every checkpoint is damaged")
    return None


@torch.no_grad()
def update_ema(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers (TokenNorm's running
    statistics) are copied, since they are already averages."""
    for e, p in zip(ema.parameters(), live.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for eb, b in zip(ema.buffers(), live.buffers(), strict=True):
        eb.copy_(b)


def sync_buffers(module: nn.Module, world: int) -> None:
    """Give every rank rank 0's buffers (ET's running token statistics), as DDP does
    before each forward; after the last step they would otherwise differ per rank."""
    if world > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


def weights_digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
