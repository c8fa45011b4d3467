"""The token mode's decoder: one group from its keyframe and coded token residuals to frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from imfcodec.bitstream import entropy
from imfcodec.bitstream.container import GroupRecord, ImfFile

from ...errors import ImfcodecError
from ...frames import frames_to_tensor, tensor_to_frames
from ...model.imf import IMF
from ...model.weights import LoadedModel
from .quantize import dequantize_tokens


def token_group_frames(
    imf: ImfFile, group: GroupRecord, key: np.ndarray | None, loaded: LoadedModel, lo: int, hi: int, batch_size: int
) -> Iterator[np.ndarray]:
    """Frames lo..hi-1 of a token-mode group (0: its keyframe)."""
    model = loaded.model
    if key is None:
        raise ImfcodecError(f"the group at frame {group.first_frame} has no keyframe, and a token file needs one")
    if not isinstance(model, IMF) or loaded.tables is None:
        raise ImfcodecError(f"{loaded.path.name} is not a token model with entropy tables, and this file codes tokens")
    device = next(model.parameters()).device
    table = loaded.tables[int(imf.header["table_index"])]
    with torch.no_grad():
        state = model.prepare_reference(frames_to_tensor(key[None], device))
    rows = entropy.decode(group.tokens, group.frame_count - 1, table) if group.frame_count > 1 else np.zeros((0, table.shape[0]), np.int64)
    tokens = dequantize_tokens(rows, state.token[0].double().cpu().numpy(), float(imf.header["token_step"]))
    if lo == 0:
        yield key
        lo = 1
    # token row i belongs to frame i + 1
    for b in range(lo, hi, batch_size):
        with torch.no_grad():
            out = model.decode(state, torch.from_numpy(tokens[b - 1 : min(hi, b + batch_size) - 1]).float().to(device))
        yield from tensor_to_frames(out)
