"""The hybrid mode: model/hybrid.py and its codec path (base layer + keyframe)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from imfcodec.bitstream.container import Reader
from imfcodec.codec.decoder import DecodeError, DecodeOptions, decode_file, iter_decoded_frames, read_imf
from imfcodec.codec.encoder import EncodeError, EncodeOptions, encode_video
from imfcodec.codec.hybrid.base_layer import decode_base, downscale, encode_base
from imfcodec.codec.hybrid.rate_control import (
    CRF_RANGE,
    KEYFRAME_SHARE,
    fit_base,
    fit_group,
    fit_keyframe,
)
from imfcodec.codec.info import describe
from imfcodec.codec.keyframes import get_codec
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model import HybridIMF, preset
from imfcodec.model.hybrid import upsample
from imfcodec.model.weights import load_weights, save_weights
from tests.conftest import synthetic_frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("hclip") / "c.mkv", synthetic_frames(14, 256, 256, seed=11), codec="ffv1", pix_fmt="bgr0")


@pytest.mark.parametrize("mode", ["attend", "warp", "none"])
def test_untrained_hybrid_is_the_bicubic_base(mode: str) -> None:
    """DF's correction starts at zero: before training the hybrid is the low-res anchor exactly."""
    torch.manual_seed(0)
    model = HybridIMF(preset("hybrid-tiny", size=128, hybrid_reference=mode)).eval()
    keyframe, bases = torch.rand(1, 3, 128, 128), torch.rand(5, 3, 64, 64)
    with torch.no_grad():
        out = model.decode(model.prepare_reference(keyframe, bases[:1]), bases)
    assert torch.equal(out, upsample(bases, 128))
    # Trained weights (any nonzero correction) change that: the guarantee is DF's zero start.
    torch.nn.init.normal_(model.frame_decoder.to_rgb.weight, std=0.1)
    with torch.no_grad():
        assert not torch.equal(model.decode(model.prepare_reference(keyframe, bases[:1]), bases), upsample(bases, 128))


def _decoder_inputs(model: HybridIMF, keyframe: torch.Tensor, bases: torch.Tensor) -> dict:
    """The keyword inputs DF receives when `model` decodes `bases` against `keyframe`."""
    seen: dict = {}
    handle = model.frame_decoder.register_forward_pre_hook(lambda _m, _a, kw: seen.update(kw), with_kwargs=True)
    with torch.no_grad():
        model.decode(model.prepare_reference(keyframe, bases[:1]), bases)
    handle.remove()
    return seen


def test_warp_guide_is_the_keyframe_when_nothing_moved() -> None:
    """The flow is measured against the keyframe base attending to itself, so a frame whose
    base equals the keyframe's warps the keyframe onto itself, at any weights; a frame that
    differs moves it. Breaks if the flow is taken against the grid or the guide is not wired."""
    torch.manual_seed(0)
    model = HybridIMF(preset("hybrid-tiny", size=128, hybrid_reference="warp")).eval()
    for p in model.alignment.parameters():  # as if trained: a flow head that answers
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else None
    keyframe, bases = torch.rand(1, 3, 128, 128), torch.rand(3, 3, 64, 64)
    bases[1] = bases[0]
    guide = _decoder_inputs(model, keyframe, bases)["guide"]
    torch.testing.assert_close(guide[1], keyframe[0], atol=2e-4, rtol=0)  # float noise of batched rows
    assert (guide[2] - keyframe[0]).abs().max() > 1e-3


@pytest.mark.parametrize("mode, uses_keyframe", [("attend", True), ("warp", True), ("none", False)])
def test_what_the_keyframe_is_worth(mode: str, uses_keyframe: bool) -> None:
    """With DF's correction switched on, a different keyframe changes the frames of "attend"
    and "warp" and leaves those of "none" (the super-resolution ablation) alone."""
    torch.manual_seed(0)
    model = HybridIMF(preset("hybrid-tiny", size=128, hybrid_reference=mode)).eval()
    torch.nn.init.normal_(model.frame_decoder.to_rgb.weight, std=0.1)
    bases = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        a, b = (model.decode(model.prepare_reference(torch.rand(1, 3, 128, 128), bases[:1]), bases) for _ in range(2))
    assert torch.equal(a, b) != uses_keyframe


def test_a_token_model_starts_as_the_model_without_one(tmp_path: Path) -> None:
    """The token ablation (hybrid_token_step) fine-tunes a token model from a trained model
    without one: its token maps start at zero, so it decodes exactly as that model until
    they learn, and the fine-tune's start loads the old weights with the token parts fresh.
    Breaks if the maps are not zero-initialised, or if a checkpoint's stray tensor loads."""
    from safetensors.torch import save_file

    from imfcodec.training.checkpoint import CheckpointError
    from imfcodec.training.checkpoint import load_weights as load_checkpoint_weights

    torch.manual_seed(0)
    plain = HybridIMF(preset("hybrid-tiny", size=128)).eval()
    torch.nn.init.normal_(plain.frame_decoder.to_rgb.weight, std=0.1)  # as if trained
    save_file({f"generator.{k}": v.contiguous() for k, v in plain.state_dict().items()}, str(tmp_path / "weights.safetensors"))
    token = HybridIMF(preset("hybrid-tiny", size=128, hybrid_token_step=0.5)).eval()
    with pytest.raises(RuntimeError):  # strict by default: the token parts are missing
        load_checkpoint_weights(tmp_path, {"generator": token})
    load_checkpoint_weights(tmp_path, {"generator": token}, new_parts_ok=True)
    keyframe, bases, frames = torch.rand(1, 3, 128, 128), torch.rand(3, 3, 64, 64), torch.rand(3, 3, 128, 128)
    with torch.no_grad():
        # A training step first: it also sets TokenNorm's scale from these (keyframe, frame) pairs.
        frames_out, bits = token.train()(keyframe.expand(3, -1, -1, -1), bases[:1].expand(3, -1, -1, -1), bases, frames)
        assert frames_out.shape == (3, 3, 128, 128) and bool((bits > 0).all())
        token.eval()
        reference = token.prepare_reference(keyframe, bases[:1])
        residual = token.quantise(token.token_residual(reference, frames), noise=False)
        assert torch.equal(torch.round(residual / 0.5) * 0.5, residual) and residual.abs().sum() > 0
        expected = plain.decode(plain.prepare_reference(keyframe, bases[:1]), bases)
        assert torch.equal(token.decode(reference, bases, residual), expected)
        torch.nn.init.normal_(token.token_film[0].weight, std=0.1)  # a token that has learnt changes the frame
        assert not torch.equal(token.decode(reference, bases, residual), expected)
    stray = HybridIMF(preset("hybrid-tiny", size=128))
    with pytest.raises(CheckpointError):  # a checkpoint with parts the model lacks is not the model
        save_file({f"generator.{k}": v.contiguous() for k, v in token.state_dict().items()}, str(tmp_path / "weights.safetensors"))
        load_checkpoint_weights(tmp_path, {"generator": stray}, new_parts_ok=True)


def test_hybrid_file_round_trip(tmp_path: Path, clip: Path, untrained) -> None:
    out = tmp_path / "h.imf"
    options = EncodeOptions(base_size=64, base_crf=45, max_keyframe_interval=8, quality=4, keyframe_codec="av1")
    summary = encode_video(clip, out, untrained, options)
    assert summary.keyframe_positions == [0, 8] and summary.base_bytes > 0 and summary.token_bytes == 0
    imf = read_imf(out)
    assert imf.version == (1, 1) and imf.header["base_size"] == 64 and "token_step" not in imf.header
    frames = np.stack(list(iter_decoded_frames(imf, untrained)))
    codec = get_codec(imf.header["keyframe_codec"])
    for g in imf.groups:
        key = codec.decode(g.keyframe)
        bases = decode_base(g.base, g.frame_count)
        # The keyframe position is the decoded keyframe; every other frame, untrained, is
        # the bicubic upscaled base picture (the encoder's in-loop frames are the same).
        np.testing.assert_array_equal(frames[g.first_frame], key)
        expected = tensor_to_frames(upsample(frames_to_tensor(bases[1:]), 256))
        np.testing.assert_array_equal(frames[g.first_frame + 1 : g.first_frame + g.frame_count], expected)
    # Partial decodes index the base pictures like full ones.
    part = np.stack(list(iter_decoded_frames(imf, untrained, DecodeOptions(start_frame=9, frames=3))))
    np.testing.assert_array_equal(part, frames[9:12])
    d = describe(Reader(out).read_all())
    b = d["bytes"]
    assert b["base"] == summary.base_bytes and b["keyframes"] + b["base"] + b["tokens"] + b["audio"] + b["overhead"] == b["total"]
    assert "64² AV1" in d["base_layer"]
    assert decode_file(out, tmp_path / "h.mkv", untrained) == 14


def test_groups_without_a_keyframe_picture(tmp_path: Path, clip: Path, untrained) -> None:
    """The hybrid's default: no keyframe picture (1.2). Every frame, the first of each group
    included, is the model's output for its base picture against the upscaled first base
    picture, so the untrained model returns the bicubic base everywhere; a file that does
    carry a picture where its header says none is refused."""
    out = tmp_path / "n.imf"
    summary = encode_video(clip, out, untrained, EncodeOptions(base_size=64, base_crf=45, max_keyframe_interval=8, audio=False))
    assert summary.keyframe_positions == [0, 8] and summary.keyframe_bytes == 0 and summary.base_bytes > 0
    imf = read_imf(out)
    assert imf.version == (1, 2) and imf.header["keyframe_codec"] == "none" and all(g.keyframe == b"" for g in imf.groups)
    frames = np.stack(list(iter_decoded_frames(imf, untrained)))
    bases = np.concatenate([decode_base(g.base, g.frame_count) for g in imf.groups])
    np.testing.assert_array_equal(frames, tensor_to_frames(upsample(frames_to_tensor(bases), 256)))
    assert summary.mean_psnr == pytest.approx(float(np.mean(psnr_per_frame(frames, _source_frames(clip)))), abs=1e-6)
    part = np.stack(list(iter_decoded_frames(imf, untrained, DecodeOptions(start_frame=8, frames=2))))
    np.testing.assert_array_equal(part, frames[8:10])  # a group's first frame decoded on its own
    d = describe(imf)
    assert d["bytes"]["keyframes"] == 0 and d["keyframes"] == 0 and d["groups"] == 2 and d["group_starts"] == [0, 8]
    # A trained model (any correction) draws the first frame too, against the upscaled reference.
    trained = copy.deepcopy(untrained)
    torch.nn.init.normal_(trained.model.frame_decoder.to_rgb.weight, std=0.05)
    drawn = np.stack(list(iter_decoded_frames(imf, trained, DecodeOptions(frames=1))))
    assert not np.array_equal(drawn[0], frames[0])
    forged = dataclasses.replace(imf, groups=[imf.groups[0], dataclasses.replace(imf.groups[1], keyframe=b"forged")])
    with pytest.raises(DecodeError, match="has a keyframe picture where the file says it has none"):
        list(iter_decoded_frames(forged, untrained, DecodeOptions(start_frame=8)))
    with pytest.raises(EncodeError, match="--keyframe-codec must be one of none, av1, hevc, webp"):
        encode_video(clip, tmp_path / "x.imf", untrained, EncodeOptions(base_size=64, keyframe_codec="jpeg"))


def test_no_psnr_writes_the_same_file_without_running_the_network(
    tmp_path: Path, clip: Path, untrained, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-psnr (in_loop_psnr=False): the hybrid encoder writes the same bytes and never
    calls the network (nothing coded depends on its output); the summary says the PSNR was
    not measured. The token mode, whose keyframe choice needs its decode, refuses it. Fails
    if the flag is ignored (the network still runs), if the file changes with it, or if the
    token mode takes it silently."""
    from typer.testing import CliRunner

    from imfcodec.cli import app
    from imfcodec.codec.hybrid import encode as hybrid_encode

    options = EncodeOptions(base_size=64, base_crf=45, max_keyframe_interval=8, audio=False)
    measured = encode_video(clip, tmp_path / "a.imf", untrained, options)
    monkeypatch.setattr(hybrid_encode, "decode_hybrid_group", lambda *a, **k: pytest.fail("the network ran"))
    quick = encode_video(clip, tmp_path / "b.imf", untrained, dataclasses.replace(options, in_loop_psnr=False))
    assert (tmp_path / "a.imf").read_bytes() == (tmp_path / "b.imf").read_bytes()
    assert measured.psnr_measured and not quick.psnr_measured and np.isnan(quick.mean_psnr) and quick.frames == measured.frames
    runner = CliRunner()
    args = ["encode", str(clip), str(tmp_path / "c.imf"), "--model", str(untrained.path), "--base-size", "64", "--base-crf", "45"]
    result = runner.invoke(app, [*args, "--no-psnr", "--no-audio"])
    assert result.exit_code == 0 and "not measured (--no-psnr)" in result.output, result.output
    result = runner.invoke(app, ["encode", str(clip), str(tmp_path / "t.imf"), "--model", str(tiny_model_path), "--no-psnr"])
    assert result.exit_code == 1 and "the token mode decodes every frame in the loop anyway" in " ".join(result.output.split())
    assert not (tmp_path / "t.imf").exists()


def _source_frames(clip: Path) -> np.ndarray:
    from imfcodec.codec.video_io import iter_frames

    return np.stack(list(iter_frames(clip, size=256, crop="center")))


def test_mode_and_model_must_match(tmp_path: Path, clip: Path, untrained, tiny_model_path: Path) -> None:
    with pytest.raises(EncodeError, match="needs a token model"):
        encode_video(clip, tmp_path / "a.imf", untrained, EncodeOptions(base_size=0))
    with pytest.raises(EncodeError, match="needs a hybrid model"):
        encode_video(clip, tmp_path / "a.imf", load_weights(tiny_model_path), EncodeOptions(base_size=64))
    with pytest.raises(EncodeError, match="--base-size must be"):
        encode_video(clip, tmp_path / "a.imf", untrained, EncodeOptions(base_size=80))
    assert not list(tmp_path.iterdir())


def test_command_line_hybrid_encode_info_decode(tmp_path: Path, clip: Path, untrained) -> None:
    from typer.testing import CliRunner

    from imfcodec.cli import app

    runner = CliRunner()
    out = tmp_path / "c.imf"
    args = ["encode", str(clip), str(out), "--model", str(untrained.path), "--base-size", "96", "--base-crf", "55", "--low-delay"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "+ base" in " ".join(result.output.split())
    result = runner.invoke(app, ["info", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["base_layer"] == "96² AV1, crf 55, low delay"
    result = runner.invoke(app, ["decode", str(out), str(tmp_path / "c.y4m"), "--model", str(untrained.path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["encode", str(clip), str(tmp_path / "d.imf"), "--model", str(untrained.path), "--base-size", "80"])
    assert result.exit_code == 1 and "--base-size must be" in result.output


def test_the_decoder_batches_a_hybrid_file_by_the_modes_own_size_unless_asked(
    tmp_path: Path, clip: Path, untrained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --batch-size a hybrid file is decoded HYBRID_BATCH frames a call (the faster
    size on 2 cores); a size asked for, from the library or the command line, is the one
    used. Fails if the option is dropped on its way or the default falls back to another."""
    from typer.testing import CliRunner

    from imfcodec.cli import app
    from imfcodec.codec import decoder
    from imfcodec.codec.batching import HYBRID_BATCH

    out = tmp_path / "b.imf"
    encode_video(clip, out, untrained, EncodeOptions(base_size=64, base_crf=45, audio=False))
    seen: list[int] = []
    real = decoder.hybrid_group_frames

    def spy(imf, group, key, loaded, lo, hi, batch_size):  # type: ignore[no-untyped-def]
        seen.append(batch_size)
        return real(imf, group, key, loaded, lo, hi, batch_size)

    monkeypatch.setattr(decoder, "hybrid_group_frames", spy)
    imf = read_imf(out)
    default = np.stack(list(iter_decoded_frames(imf, untrained)))
    asked = np.stack(list(iter_decoded_frames(imf, untrained, DecodeOptions(batch_size=7))))
    assert seen == [HYBRID_BATCH, 7] and HYBRID_BATCH == 4
    np.testing.assert_array_equal(default, asked)  # the untrained model is its bicubic base: exact at any batch
    args = ["decode", str(out), str(tmp_path / "b.y4m"), "--model", str(untrained.path), "--batch-size", "3", "--quiet"]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert seen[-1] == 3


def test_command_line_default_is_the_hybrid_at_its_default_rate(tmp_path: Path, clip: Path, tiny_model_path: Path) -> None:
    """No --model and no rate option: the shipped hybrid model at DEFAULT_BITRATE_KBPS, no
    keyframe pictures; --base-size 0 is the token mode with the token model; a token model
    named without a rate option codes tokens, as it always did."""
    from typer.testing import CliRunner

    from imfcodec.cli import app
    from imfcodec.model.weights import DEFAULT_MODEL, DEFAULT_TOKEN_MODEL, resolve_model

    runner = CliRunner()
    for args, model, hybrid in (
        ([], DEFAULT_MODEL, True),
        (["--base-size", "0"], DEFAULT_TOKEN_MODEL, False),
        (["--model", str(tiny_model_path)], None, False),
    ):
        out = tmp_path / f"{len(args)}.imf"
        result = runner.invoke(app, ["encode", str(clip), str(out), "--quiet", "--no-audio", *args])
        assert result.exit_code == 0, result.output
        header = read_imf(out).header
        if model is not None:
            assert header["model_id"] == load_weights(resolve_model(model)).model_id
        assert ("base_size" in header) == hybrid
        if hybrid:  # --bitrate chose the CRF per group (nil in the header) and no keyframe pictures
            assert header["base_crf"] is None and header["keyframe_codec"] == "none"


def test_bitrate_lands_within_15_percent(tmp_path: Path, untrained) -> None:
    """--bitrate picks each group's base CRF from its own frames: the file lands on the target."""
    source = write_clip(tmp_path / "r.mkv", synthetic_frames(30, 256, 256, seed=5), codec="ffv1", pix_fmt="bgr0")
    out = tmp_path / "r.imf"
    target = 40.0
    summary = encode_video(source, out, untrained, EncodeOptions(bitrate_kbps=target, max_keyframe_interval=15, audio=False))
    assert read_imf(out).header["base_crf"] is None and read_imf(out).header["base_size"] == 128
    assert describe(read_imf(out))["base_layer"].startswith("128² AV1, crf per group, random access")
    assert abs(summary.kbps()["total"] - target) <= 0.15 * target, summary.kbps()
    with pytest.raises(EncodeError, match="--quality fixes the token mode's quality"):  # a token model: its own budget
        encode_video(
            source,
            tmp_path / "t.imf",
            load_weights(Path(__file__).parent / "expected" / "tiny-test.safetensors"),
            EncodeOptions(bitrate_kbps=5, quality=3),
        )


@pytest.mark.parametrize("low_delay", [False, True])
def test_half_rate_base_layer(tmp_path: Path, clip: Path, untrained, low_delay: bool) -> None:
    """--base-step 2: the layer holds every second frame; a skipped frame shows the blend of
    its two coded neighbours (random access) or its predecessor (low delay: the next one is
    not there yet), and the last skipped frame of a group repeats. (The blend asked for: on
    this moving disc the encoder would measure the motion fill better, test_motion_fill.py.)"""
    out = tmp_path / "half.imf"
    options = EncodeOptions(
        base_size=64, base_crf=45, base_step=2, low_delay=low_delay, max_keyframe_interval=8, audio=False, skipped_fill="linear"
    )
    encode_video(clip, out, untrained, options)
    imf = read_imf(out)
    assert imf.header["base_step"] == 2 and imf.header["base_fill"] == ("repeat" if low_delay else "linear")
    structure = "low delay, every 2 frames (repeat between)" if low_delay else "random access, every 2 frames (linear between)"
    assert describe(imf)["base_layer"] == f"64² AV1, crf 45, {structure}"
    frames = np.stack(list(iter_decoded_frames(imf, untrained)))
    g = imf.groups[0]
    assert g.frame_count == 8
    coded = decode_base(g.base, 4)  # frames 0, 2, 4, 6 of the 8-frame group
    blend = ((coded[0].astype(int) + coded[1] + 1) // 2).astype(np.uint8)
    up = tensor_to_frames(upsample(frames_to_tensor(np.concatenate([coded, blend[None]])), 256))
    np.testing.assert_array_equal(frames[1], up[0] if low_delay else up[4])
    np.testing.assert_array_equal(frames[2], up[1])
    np.testing.assert_array_equal(frames[6], up[3])
    np.testing.assert_array_equal(frames[7], up[3])  # no coded picture after it
    with pytest.raises(EncodeError, match="--base-step"):
        encode_video(clip, tmp_path / "x.imf", untrained, EncodeOptions(base_size=64, base_step=9))


def test_a_short_group_gets_a_cheaper_keyframe() -> None:
    """--bitrate: the keyframe keeps the asked quality while it is at most KEYFRAME_SHARE of
    its group's bytes, else the best quality below that fits, else quality 1. Fails if the
    search starts above the asked quality, stops too early, or ignores the share."""
    sizes = {1: 400, 2: 650, 3: 930, 4: 1300}
    asked: list[int] = []

    def encode(q: int) -> bytes:
        asked.append(q)
        return bytes(sizes[q])

    assert len(fit_keyframe(encode, 3, 6250)) == 930 and asked == [3]  # a long group: as asked
    asked.clear()
    assert len(fit_keyframe(encode, 4, 700 / KEYFRAME_SHARE)) == 650 and asked == [4, 3, 2]
    assert len(fit_keyframe(encode, 4, 100)) == 400  # nothing fits: the smallest


def test_a_group_lowers_its_keyframe_when_the_base_floor_does_not_fit() -> None:
    """fit_group: a keyframe within its share can still leave the base layer less than its
    floor (its size at the highest CRF); then the keyframe goes down a quality until both
    fit. Fails if the keyframe is chosen without looking at the base (the shipped sample
    landed 7 % over 5 kbps that way), or lowered when the base fits."""
    low = downscale(synthetic_frames(24, 256, 256, seed=5)[::2], 96)
    floor = len(encode_base(low, CRF_RANGE[1]))
    sizes = {1: 50, 2: 100, 3: 150}
    asked: list[int] = []

    def encode(q: int) -> bytes:
        asked.append(q)
        return bytes(sizes[q])

    group_bytes = floor + 75  # quality 3 is within its share (35 %) but leaves the base 75 short
    assert sizes[3] <= KEYFRAME_SHARE * group_bytes
    keyframe, base = fit_group(encode, 3, low, group_bytes, False)
    assert len(keyframe) == 50 and len(keyframe) + len(base) <= group_bytes
    asked.clear()
    # Quality 3 over its share as well: fit_keyframe codes 3 and 2, and the search below
    # it goes on from there without coding 2 again.
    sparse = downscale(synthetic_frames(24, 256, 256, seed=5)[::4], 64)
    sparse_bytes = len(encode_base(sparse, CRF_RANGE[1])) + 75
    assert sizes[2] <= KEYFRAME_SHARE * sparse_bytes < sizes[3]
    keyframe, base = fit_group(encode, 3, sparse, sparse_bytes, False)
    assert len(keyframe) == 50 and sorted(asked) == [1, 2, 3]  # each quality coded once
    asked.clear()
    keyframe, base = fit_group(encode, 3, low, floor + 400, False)  # room for both: as asked
    assert len(keyframe) == 150 and asked == [3]


def test_the_base_fits_its_budget_in_quarter_crf_steps() -> None:
    """fit_base refines the whole CRF that fits by SVT-AV1's quarter steps: a budget halfway
    between two whole CRFs' sizes gets a CRF between them. Fails if the refinement is
    dropped (a 128² layer near CRF 60 then wastes up to 10 % of its share: a 4-second clip
    at 4 kbps landed at 3.6), or if the fractional CRF stops reaching the encoder (the
    three quarter-step sizes would equal the whole step's)."""
    low = downscale(synthetic_frames(24, 256, 256, seed=5)[::2], 96)
    sizes = {crf: len(encode_base(low, crf)) for crf in (50, 51)}
    assert sizes[50] > sizes[51]
    payload, crf = fit_base(low, (sizes[50] + sizes[51]) / 2, False)
    assert 50 < crf < 51 and len(payload) <= (sizes[50] + sizes[51]) / 2  # sizes in quarter steps are not strictly monotone
    assert len({len(encode_base(low, 50 + q / 4)) for q in range(5)}) >= 4  # the quarter steps code differently


def test_bench_reports_the_models_gain_over_its_own_base(tmp_path: Path, clip: Path, untrained) -> None:
    """imfcodec bench sets each hybrid point beside its own base layer, bicubic upscaled: an
    untrained hybrid without keyframe pictures is that upscale exactly (gain 0.00 dB), and a
    model with any correction is not. Fails if the bicubic figure came from other pictures
    (a different fill, the keyframe, another group's base)."""
    from imfcodec.bench.run import run_bench

    def bench(model_path: Path, out: str) -> list[dict]:
        records = run_bench(
            [clip],
            model=str(model_path),
            points="base_size=64,base_crf=45,base_step=2",
            anchors=[],
            frames=12,
            size=256,
            out=tmp_path / out,
            quiet=True,
        )
        return [r for r in records if r["codec"] == "imfcodec"]

    (rec,) = bench(untrained.path, "a")
    assert rec["psnr_rgb_bicubic_base"] == pytest.approx(rec["psnr_rgb"], abs=1e-9)
    gain = json.loads((tmp_path / "a" / "results.json").read_text())["summary"]["gain_over_bicubic"]
    assert len(gain) == 1 and gain[0]["gain_db"] == pytest.approx(0.0, abs=1e-9)
    trained = copy.deepcopy(untrained.model)
    torch.nn.init.normal_(trained.frame_decoder.to_rgb.weight, std=0.05)
    path = tmp_path / "t.safetensors"
    save_weights(trained, path, provenance={"purpose": "tests", "trained": False})
    (other,) = bench(path, "b")
    assert other["psnr_rgb_bicubic_base"] == pytest.approx(rec["psnr_rgb_bicubic_base"], abs=1e-9)
    assert abs(other["psnr_rgb"] - other["psnr_rgb_bicubic_base"]) > 0.01
