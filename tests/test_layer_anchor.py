"""The like-for-like anchors (imfcodec's own base layer without the network; VVC) and VMAF."""

from __future__ import annotations

import numpy as np
import pytest

from imfcodec.bench.layer_anchor import encode_layer_anchor, layer_fills
from imfcodec.bench.vmaf import vmaf
from imfcodec.codec.hybrid.base_layer import decode_base, downscale, encode_base, encode_offsets, fill_skipped, split_packets
from imfcodec.codec.hybrid.motion_fill import choose_offsets
from imfcodec.errors import ImfcodecError
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model.hybrid import upsample
from tests.conftest import synthetic_frames


def test_the_step_4_blend_variant_is_the_hand_computation() -> None:
    """The anchor's 96², every-4th-picture, blended variant: its rate is the AV1 packets'
    bytes and its frames are the integer blend of the two coded neighbours, bicubic up,
    computed here by hand; and its motion-filled and timed variants, the codec's own (the
    timed one's offsets counted in its rate). Fails if the anchor codes another layer, blends
    another way, leaves out a fill the codec can name, counts the payload's framing, or
    leaves the offsets' bytes out."""
    frames = synthetic_frames(14, 256, 256, seed=4)
    results = {r.fill: r for r in encode_layer_anchor("svtav1-lowres-ra", frames, 96, 4, 55)}
    assert set(results) == {"repeat", "linear", "motion", "timed"} and layer_fills(4, low_delay=True) == ("repeat",)
    payload = encode_base(downscale(frames[::4], 96), 55, False)
    coded = decode_base(payload, 4).astype(np.int32)  # pictures of frames 0, 4, 8, 12
    by_hand = []
    for i in range(14):
        k, j = divmod(i, 4)
        picture = coded[k] if j == 0 or k + 1 >= len(coded) else ((4 - j) * coded[k] + j * coded[k + 1] + 2) // 4
        by_hand.append(picture.astype(np.uint8))
    up = tensor_to_frames(upsample(frames_to_tensor(np.stack(by_hand)), 256))
    linear = results["linear"]
    assert linear.es_bytes == sum(len(p) for p in split_packets(payload)) < len(payload)
    np.testing.assert_array_equal(linear.frames, up)
    assert float(psnr_per_frame(linear.frames, frames).mean()) == pytest.approx(float(psnr_per_frame(up, frames).mean()))
    assert not np.array_equal(results["repeat"].frames, linear.frames)
    # The motion fill too, as the codec draws it: the anchor may use every trick imfcodec uses.
    moved = tensor_to_frames(upsample(frames_to_tensor(fill_skipped(coded.astype(np.uint8), 14, 4, "motion")), 256))
    np.testing.assert_array_equal(results["motion"].frames, moved)
    # And the timed fill, its offsets chosen as the encoder chooses them and their bytes counted.
    offsets = choose_offsets(coded.astype(np.uint8), downscale(frames, 96), 4)
    timed = tensor_to_frames(upsample(frames_to_tensor(fill_skipped(coded.astype(np.uint8), 14, 4, "timed", offsets)), 256))
    np.testing.assert_array_equal(results["timed"].frames, timed)
    assert results["timed"].es_bytes == linear.es_bytes + len(encode_offsets(offsets)) > linear.es_bytes


def test_vmaf_of_a_clip_against_itself_and_a_shifted_copy() -> None:
    """VMAF's sanity checks: a clip against itself scores at least 97 (both models); a copy
    shifted by 4 pixels scores far lower. Fails if the two sides are converted differently,
    swapped, or misaligned."""
    frames = synthetic_frames(10, 128, 128, seed=2)
    same = vmaf(frames, frames)
    assert same["vmaf"] >= 97 and same["vmaf_neg"] >= 97
    shifted = vmaf(frames, np.roll(frames, 4, axis=2))
    assert shifted["vmaf"] < same["vmaf"] - 30


def test_vmaf_and_vvc_without_their_ffmpeg_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the imageio-ffmpeg wheel the VVC anchor and VMAF say how to get it, in one line."""
    import builtins

    real_import = builtins.__import__

    def no_wheel(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "imageio_ffmpeg":
            raise ModuleNotFoundError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wheel)
    from imfcodec.bench.vvc_anchor import encode_vvc_anchor

    frames = synthetic_frames(4, 64, 64, seed=1)
    for call in (lambda: encode_vvc_anchor("vvenc", frames, 25.0, 40), lambda: vmaf(frames, frames)):
        with pytest.raises(ImfcodecError, match=r"imageio-ffmpeg wheel: pip install") as caught:
            call()
        assert "\n" not in str(caught.value)


def test_the_vvc_anchor_codes_and_decodes() -> None:
    """VVenC at QP 40 and 50 on a tiny clip: fewer bytes at the higher QP, frames decoded
    back at the clip's size, a plausible PSNR; a low-res shape gives one record per fill."""
    from imfcodec.bench.vvc_anchor import encode_vvc_anchor

    frames = synthetic_frames(8, 128, 128, seed=3)
    fine, coarse = (encode_vvc_anchor("vvenc", frames, 25.0, qp)[0] for qp in (40, 50))
    assert coarse.es_bytes < fine.es_bytes and fine.frames.shape == frames.shape
    assert float(psnr_per_frame(fine.frames, frames).mean()) > float(psnr_per_frame(coarse.frames, frames).mean()) > 15
    low = encode_vvc_anchor("vvenc-lowres", frames, 25.0, 40, side=64, step=2)
    assert [r.label for r in low] == [f"vvenc-lowres-64-s2-{fill}" for fill in ("repeat", "linear", "motion", "timed")]
