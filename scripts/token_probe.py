"""Why the token mode does not follow the mouth: three probes on one clip's first frames.

    python scripts/token_probe.py CLIP [--frames 48] [--model imf-small-v2]

Against the clip's first frame as the keyframe (decoded through the AV1 keyframe codec at
--quality 5, as the encoder would), each frame's reconstruction, PSNR of the whole frame
and of its lower third (the mouth in these crops):
- **repeat**: the keyframe itself (no tokens).
- **ET, quantised** at --quality 1, 5 and 8, and **ET, unquantised** (float tokens): if
  the float tokens move the mouth no more than the quantised ones, the quantisation is not
  what keeps it still.
- **best token**: each frame's token optimised by gradient descent on the reconstruction's
  L1 (Adam, --steps) from ET's: what the decoder (IMFD, IMFA, DF) can draw from this
  keyframe at all. Close to ET's: the encoder is not the limit; far above it: ET is.
- **ET's sensitivity**: the token distance between each frame and the same frame with its
  lower third replaced by the keyframe's, relative to the distance between the frame and
  the keyframe: near 0, ET does not see the mouth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from imfcodec.codec.keyframes import get_codec
from imfcodec.codec.tokens.quantize import quantize_tokens
from imfcodec.codec.video_io import iter_frames
from imfcodec.frames import frames_to_tensor, psnr_per_frame, tensor_to_frames
from imfcodec.model.imf import IMF
from imfcodec.model.weights import DEFAULT_TOKEN_MODEL, load_weights, resolve_model
from imfcodec.quality import quality_step


def report(name: str, ref: np.ndarray, out: np.ndarray) -> None:
    lower = slice(ref.shape[1] * 2 // 3, None)
    whole = psnr_per_frame(ref, out).mean()
    mouth = psnr_per_frame(ref[:, lower], out[:, lower]).mean()
    print(f"{name:28s} PSNR {whole:6.2f} dB   lower third {mouth:6.2f} dB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", type=Path)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--model", default=DEFAULT_TOKEN_MODEL)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    torch.manual_seed(0)
    loaded = load_weights(resolve_model(args.model))
    model = loaded.model
    assert isinstance(model, IMF)
    frames = np.stack(list(iter_frames(args.clip, size=model.config.size, max_frames=args.frames)))
    codec = get_codec("av1")
    key = codec.decode(codec.encode(frames[0], 5))
    x = frames_to_tensor(frames)
    with torch.no_grad():
        state = model.prepare_reference(frames_to_tensor(key[None]))
        tokens = model.encode_tokens(x).double()
        start = state.token[0].double()

        def draw(t: torch.Tensor) -> np.ndarray:
            return np.concatenate([tensor_to_frames(model.decode(state, t[i : i + 8].float())) for i in range(0, len(t), 8)])

        report("repeat the keyframe", frames, np.repeat(key[None], len(frames), axis=0))
        for q in (1, 5, 8):
            _, dq = quantize_tokens(tokens.numpy(), start.numpy(), quality_step(q))
            report(f"ET, quantised (quality {q})", frames, draw(torch.from_numpy(dq)))
        report("ET, unquantised", frames, draw(tokens))
        masked = frames.copy()
        lower = slice(frames.shape[1] * 2 // 3, None)
        masked[:, lower] = key[None, lower]
        t_masked = model.encode_tokens(frames_to_tensor(masked)).double()
        moved = (tokens - start).norm(dim=1)
        mouth_part = (tokens - t_masked).norm(dim=1)
        print(
            f"ET's sensitivity to the lower third: |t - t(mouth from keyframe)| / |t - t_key| = {float((mouth_part / moved.clamp_min(1e-9)).mean()):.3f}"
        )
    best = tokens.float().clone().requires_grad_(True)
    opt = torch.optim.Adam([best], lr=0.05)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = sum((model.decode(state, best[i : i + 8]) - x[i : i + 8]).abs().mean() for i in range(0, len(x), 8))
        loss.backward()  # type: ignore[union-attr]
        opt.step()
    with torch.no_grad():
        report(f"best token ({args.steps} Adam steps)", frames, draw(best.detach().double()))


if __name__ == "__main__":
    main()
