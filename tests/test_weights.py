"""imfcodec/model/weights.py: safetensors round trip, model ids, refusing other files."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from imfcodec.model import IMF, HybridIMF, preset
from imfcodec.model.prior import frozen_tables
from imfcodec.model.weights import WeightsError, file_sha256, load_weights, resolve_model, save_weights, write_shared_model


def test_round_trip_is_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64)).eval()
    torch.nn.init.normal_(model.frame_decoder.to_rgb.weight, std=0.01)
    tables = frozen_tables(np.full((8, 16), 1.0))
    model_id = save_weights(model, tmp_path / "m.safetensors", tables=tables, provenance={"steps": 3})
    assert model_id == file_sha256(tmp_path / "m.safetensors")
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["model_id"] == model_id and sidecar["config"]["preset"] == "tiny"

    loaded = load_weights(tmp_path / "m.safetensors")
    assert loaded.model_id == model_id and loaded.provenance == {"steps": 3}
    np.testing.assert_array_equal(loaded.tables, tables)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a = model.decode(model.prepare_reference(x[:1]), model.encode_tokens(x))
        b = loaded.model.decode(loaded.model.prepare_reference(x[:1]), loaded.model.encode_tokens(x))
    assert torch.equal(a, b)
    # Saving the same weights again gives the same id.
    assert save_weights(loaded.model, tmp_path / "again.safetensors", tables=tables, provenance={"steps": 3}) == model_id
    # Not private to its writer (mkstemp's 0600): readable like the sidecar beside it.
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == (tmp_path / "m.json").stat().st_mode & 0o777


def test_refuses_a_pickle(tmp_path: Path) -> None:
    evil = tmp_path / "model.safetensors"
    evil.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_weights(evil)
    pt = tmp_path / "model.pt"
    torch.save(IMF(preset("tiny", size=64)).state_dict(), pt)
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_weights(pt)


def test_refuses_foreign_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(WeightsError, match="without an imfcodec model config"):
        load_weights(tmp_path / "other.safetensors")


def test_missing_and_unknown_models(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "absent.safetensors")
    with pytest.raises(WeightsError, match="unknown model"):
        resolve_model("no-such-model")


def test_shipped_models() -> None:
    from imfcodec.model.weights import DEFAULT_MODEL, find_model_by_id, shipped_models

    shipped = shipped_models()
    assert DEFAULT_MODEL in shipped
    for name, path in shipped.items():
        loaded = load_weights(path)
        assert (loaded.tables is not None) == (loaded.model.config.architecture == "imf"), name
        assert path.stat().st_size < 40 * 2**20, name
        assert find_model_by_id(loaded.model_id) == path  # files made with it still decode
        recorded = json.loads(path.with_suffix(".json").read_text())["model_id"]
        assert loaded.model_id == recorded, name
    # v2 is v1's weights with the correction gate on; v1 keeps decoding without it.
    v1, v2 = load_weights(shipped["imf-small-v1"]), load_weights(shipped["imf-small-v2"])
    assert v1.model.config.correction_gate == 0.0 and v2.model.config.correction_gate == 0.1
    a, b = v1.model.state_dict(), v2.model.state_dict()
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    # Stored once: v2 is a description that names v1's tensor file.
    assert shipped["imf-small-v2"].suffix == ".json"
    assert json.loads(shipped["imf-small-v2"].read_text())["tensors"] == shipped["imf-small-v1"].name


def test_shared_tensors_keep_the_single_file_id(tmp_path: Path) -> None:
    """A model stored as a description over another's tensors has the id its own single
    file would have had (so files written before the split still find it), and any change
    to its config, its tensors or the file it names is refused, not silently decoded."""
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64)).eval()
    single = tmp_path / "single.safetensors"
    single_id = save_weights(model, single, provenance={"purpose": "test"})
    gated = IMF(dataclasses.replace(model.config, correction_gate=0.1))
    gated.load_state_dict(model.state_dict())
    gated_id = save_weights(gated, tmp_path / "gated.safetensors", provenance={"purpose": "gated"})
    config = json.loads(gated.config.to_json())
    shared = tmp_path / "shared.json"
    assert write_shared_model(config, {"purpose": "gated"}, single, shared) == gated_id
    loaded = load_weights(shared)
    assert loaded.model_id == gated_id != single_id and loaded.model.config.correction_gate == 0.1
    assert all(loaded.model.state_dict()[k].equal(v) for k, v in model.state_dict().items())

    manifest = json.loads(shared.read_text())
    for change, message in [
        ({"config": {**config, "correction_gate": 0.2}}, "not the recorded id"),
        ({"tensors": "../single.safetensors"}, "beside it"),
        ({"tensors_sha256": "0" * 64}, "not the one it was made with"),
        ({"tensors": 5}, "not a model description"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**manifest, **change}))
        with pytest.raises(WeightsError, match=message):
            load_weights(bad)


def test_fp16_storage_is_half_the_size_and_loads_as_fp32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = HybridIMF(preset("hybrid-tiny", size=64)).eval()
    save_weights(model, tmp_path / "a.safetensors")
    save_weights(model, tmp_path / "h.safetensors", dtype=torch.float16)
    assert (tmp_path / "h.safetensors").stat().st_size < 0.55 * (tmp_path / "a.safetensors").stat().st_size
    loaded = load_weights(tmp_path / "h.safetensors").model
    for k, v in model.state_dict().items():
        w = loaded.state_dict()[k]
        assert w.dtype == v.dtype and torch.equal(w, v.half().to(v.dtype) if v.is_floating_point() else v), k
