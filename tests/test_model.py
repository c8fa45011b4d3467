"""imfcodec/model: shapes, the identity path, the cached path, attention, presets."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from imfcodec.model import IMF, count_parameters, preset
from imfcodec.model.layers import attention, set_attention_backend


def smooth_images(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, 3, 8, 8, generator=g)
    return F.interpolate(low, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


@pytest.mark.parametrize("name,size", [("tiny", 64), ("small", 256), ("paper", 64)])
def test_module_shapes(name: str, size: int) -> None:
    torch.manual_seed(0)
    config = preset(name, size=size)
    model = IMF(config).eval()
    x = smooth_images(1 if name == "paper" else 2, size)
    with torch.no_grad():
        feats = model.feature_encoder(x)
        assert [tuple(f.shape[1:]) for f in feats] == [
            (c, size // (4 * 2**s), size // (4 * 2**s)) for s, c in enumerate(config.feature_channels)
        ]
        tokens = model.encode_tokens(x)
        assert tokens.shape == (x.shape[0], config.token_dim)
        motion = model.token_decoder(tokens)
        assert sorted(motion) == sorted(config.attention_scales)
        for s, m in motion.items():
            assert m.shape == (x.shape[0], config.motion_channels[s], config.resolution(s), config.resolution(s))
        state = model.prepare_reference(x)
        out = model.decode(state, tokens)
        assert out.shape == x.shape and torch.isfinite(out).all()


def test_paper_parameter_count() -> None:
    with torch.device("meta"):
        model = IMF(preset("paper"))
    assert 140e6 <= count_parameters(model) <= 180e6


def test_small_parameter_count() -> None:
    with torch.device("meta"):
        model = IMF(preset("small"))
    assert 5e6 <= count_parameters(model) <= 12e6


@pytest.mark.parametrize("token_dim", [16, 32, 64, 128])
def test_token_dims_and_normalisation(token_dim: int) -> None:
    model = IMF(preset("tiny", size=64, token_dim=token_dim)).train()
    ref, cur = smooth_images(8, 64, 1), smooth_images(8, 64, 2)
    out = model(ref, cur)
    assert out["token"].shape == (8, token_dim)
    # The pair differences the codec quantises have unit spread per entry, whatever the
    # weights: the token can neither shrink nor freeze its motion.
    diff = (out["token"] - out["ref_token"]).detach()
    assert torch.allclose(diff.pow(2).mean(dim=0), torch.ones(token_dim), rtol=1e-3)
    # Inference uses the same statistics, so a frame's token does not depend on its batch.
    model.eval()
    with torch.no_grad():
        x = smooth_images(4, 64)
        torch.testing.assert_close(model.encode_tokens(x)[:1], model.encode_tokens(x[:1]), rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(model.encode_tokens(cur), out["token"].detach(), rtol=1e-3, atol=1e-4)


def test_untrained_small_returns_its_reference() -> None:
    torch.manual_seed(0)
    model = IMF(preset("small")).eval()
    x = smooth_images(1, 256)
    with torch.no_grad():
        state = model.prepare_reference(x)
        out = model.decode(state, state.token)
    assert psnr(out, x) >= 40.0


def test_untrained_model_moves_with_another_token() -> None:
    # The identity is not a dead end: a different token changes the output.
    torch.manual_seed(0)
    model = IMF(preset("small")).eval()
    x = smooth_images(1, 256)
    with torch.no_grad():
        state = model.prepare_reference(x)
        moved = model.decode(state, torch.randn(1, model.config.token_dim))
    assert psnr(moved, x) < 80.0


@pytest.mark.parametrize("gate", [0.0, 0.1])
def test_correction_gate(gate: float) -> None:
    # A trained DF corrects every frame; with the gate, equal tokens still return the
    # keyframe (to float rounding in the zero-flow warp, which 8-bit output never shows), and
    # the gate is open again a quantisation step away.
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64, correction_gate=gate)).eval()
    torch.nn.init.normal_(model.frame_decoder.to_rgb.weight, std=0.05)
    x = smooth_images(2, 64)
    with torch.no_grad():
        state = model.prepare_reference(x)
        same = model.decode(state, state.token)
        near = model.decode(state, state.token + 0.3 / math.sqrt(model.config.token_dim))
        ungated = IMF(preset("tiny", size=64, correction_gate=0.0))
        ungated.load_state_dict(model.state_dict())
        near_ungated = ungated.eval().decode(state, state.token + 0.3 / math.sqrt(model.config.token_dim))
    if gate:
        torch.testing.assert_close(same, x, rtol=0, atol=1e-5)
        torch.testing.assert_close(near, near_ungated, rtol=0, atol=1e-3)
    else:
        assert psnr(same, x) < 60.0
    # Gradients stay finite at zero distance (the training forward adds no noise here).
    model.train()
    out = model(x, x)["recon"]
    out.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_cached_path_equals_full_forward() -> None:
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64)).eval()
    # Give DF a non-zero correction so the comparison covers it too.
    torch.nn.init.normal_(model.frame_decoder.to_rgb.weight, std=0.01)
    ref, cur = smooth_images(3, 64, 1), smooth_images(3, 64, 2)
    with torch.no_grad():
        full = model(ref, cur)["recon"]
        cached = torch.cat([model.decode(model.prepare_reference(ref[i : i + 1]), model.encode_tokens(cur[i : i + 1])) for i in range(3)])
        # One reference, many tokens: the codec's batched path.
        state = model.prepare_reference(ref[:1])
        batched = model.decode(state, model.encode_tokens(cur))
        single = torch.cat([model.decode(state, model.encode_tokens(cur[i : i + 1])) for i in range(3)])
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batched, single, rtol=1e-4, atol=1e-5)


def test_sdpa_matches_plain_softmax() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 50, 16), torch.randn(2, 3, 70, 16), torch.randn(2, 3, 70, 24)
    reference = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(16), dim=-1) @ v
    torch.testing.assert_close(attention(q, k, v), reference, rtol=1e-4, atol=1e-5)
    temperature = torch.tensor(7.0)
    reference_t = torch.softmax(7.0 * q @ k.transpose(-1, -2), dim=-1) @ v
    torch.testing.assert_close(attention(q, k, v, scale=temperature), reference_t, rtol=1e-4, atol=1e-4)


def test_attention_backend_selection() -> None:
    set_attention_backend("sdpa")
    set_attention_backend("auto")
    with pytest.raises(ValueError):
        set_attention_backend("flash-magic")


def test_training_forward_backward() -> None:
    torch.manual_seed(0)
    model = IMF(preset("tiny", size=64))
    out = model(smooth_images(2, 64, 1), smooth_images(2, 64, 2), token_noise=0.25)
    loss = out["recon"].mean() + out["token"].pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        preset("nope")
    with pytest.raises(ValueError):
        preset("tiny", size=100)
    with pytest.raises(ValueError):
        preset("tiny", correction_gate=-1.0)
    config = preset("small")
    from imfcodec.model import IMFConfig

    assert IMFConfig.from_dict(__import__("json").loads(config.to_json())) == config
