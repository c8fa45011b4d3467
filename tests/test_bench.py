"""imfcodec/bench: helpers against hand-computed values, BD-rate on a textbook case, a whole tiny run."""

from __future__ import annotations

import json
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from imfcodec.bench import anchors
from imfcodec.bench.anchors import stored_video_bytes
from imfcodec.bench.metrics import ms_ssim_per_frame, psnr, psnr_rgb_per_frame, psnr_yuv_per_frame
from imfcodec.bench.run import codec_fingerprint, parse_points, run_bench, summarize
from imfcodec.bench.summary import bd_psnr, bd_rate, pareto_front
from imfcodec.rate import kbps
from tests.conftest import synthetic_frames, write_clip


def test_psnr_by_hand() -> None:
    a = np.zeros((1, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0, 0] = 16  # one error of 16 over 48 values: MSE = 256 / 48
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (256 / 48)))
    assert psnr_rgb_per_frame(a, a)[0] == 100.0
    gray = np.full((1, 8, 8, 3), 100, np.uint8)
    assert psnr_yuv_per_frame(gray, gray)[0] == 100.0


def test_kbps_by_hand() -> None:
    assert kbps(1000, 250, 25.0) == pytest.approx(0.8)  # 8000 bits over 10 s


@pytest.mark.parametrize("side", [64, 192])  # SSIM below 161 px, MS-SSIM from there
def test_ms_ssim_per_frame(side: int) -> None:
    frames = synthetic_frames(3, side, side, seed=4)
    noisy = np.clip(frames.astype(np.int16) + np.random.default_rng(0).integers(-40, 41, frames.shape), 0, 255).astype(np.uint8)
    same, worse = ms_ssim_per_frame(frames, frames), ms_ssim_per_frame(frames, noisy)
    assert same.shape == (3,) and np.allclose(same, 1.0, atol=1e-5)
    assert (worse < 0.99).all() and (worse > 0).all()


def test_bd_rate_textbook_case() -> None:
    rates = [100.0, 200.0, 400.0, 800.0]
    dist = [30.0, 33.0, 36.0, 39.0]
    half = [r / 2 for r in rates]  # the same quality at half the rate: -50 %
    assert bd_rate((rates, dist), (half, dist)) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate((rates, dist), ([r * 1.25 for r in rates], dist)) == pytest.approx(25.0, abs=1e-6)
    # 1 dB better everywhere over the common rate range.
    assert bd_psnr((rates, dist), (rates, [d + 1 for d in dist])) == pytest.approx(1.0, abs=1e-6)
    assert bd_rate((rates, dist), (rates, [d + 20 for d in dist])) is None  # no overlap


def test_x264_rate_leaves_out_its_settings_banner(tmp_path: Path) -> None:
    """x264 writes its settings as a ~600-byte SEI message into the first frame: not picture
    data, and at a few kbps a large part of the file. The anchor's rate excludes it."""
    path = write_clip(tmp_path / "x.mp4", synthetic_frames(10, 64, 64))
    assert b"x264 - core" in path.read_bytes()
    banner = stored_video_bytes(path, drop_sei=False) - stored_video_bytes(path, drop_sei=True)
    assert 300 < banner < 2000


def test_parse_points() -> None:
    assert parse_points("quality=2,refresh_psnr=24;quality=5") == [{"quality": 2, "refresh_psnr": 24.0}, {"quality": 5}]
    with pytest.raises(ValueError):
        parse_points("speed=3")
    # Hybrid points: sizes, CRFs, a structure flag and a target rate.
    assert parse_points("base_size=96,base_crf=50,low_delay=1;bitrate_kbps=5") == [
        {"base_size": 96, "base_crf": 50, "low_delay": True},
        {"bitrate_kbps": 5.0},
    ]
    with pytest.raises(ValueError, match="not a number"):
        parse_points("base_crf=high")


def test_whole_bench_tiny(tmp_path: Path, tiny_model_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", synthetic_frames(10, 80, 64))
    records = run_bench(
        [clip],
        model=str(tiny_model_path),
        points="quality=2;quality=6",
        anchors=["x264"],
        frames=8,
        size=64,
        out=tmp_path / "out",
        quiet=True,
    )
    codecs = {r["codec"] for r in records}
    assert codecs == {"imfcodec", "x264"}
    assert all(r["frames"] == 8 and r["kbps"] > 0 and np.isfinite(r["psnr_rgb"]) for r in records)
    x264 = sorted((r for r in records if r["codec"] == "x264"), key=lambda r: r["kbps"])
    assert x264[0]["psnr_rgb"] <= x264[-1]["psnr_rgb"]
    assert all(r["file_kbps"] > r["kbps"] for r in x264)  # the mp4 wrapper costs bytes
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(saved["records"]) == len(records)
    assert (tmp_path / "out" / "results.csv").is_file() and (tmp_path / "out" / "rd.png").is_file()
    # A rerun reads the anchors back from their cache instead of encoding them again.
    (tmp_path / "out" / "work" / "x264-crf27.mp4").unlink()
    again = run_bench([clip], model=str(tiny_model_path), points="", anchors=["x264"], frames=8, size=64, out=tmp_path / "out", quiet=True)
    assert json.dumps(again) == json.dumps([r for r in records if r["codec"] == "x264"])  # NaN-safe
    assert not (tmp_path / "out" / "work" / "x264-crf27.mp4").exists()


def test_pareto_front_keeps_the_best_point_at_each_rate() -> None:
    a = ([1.0, 2.0, 4.0], [20.0, 24.0, 26.0])
    b = ([1.0, 1.5, 3.0, 5.0], [19.0, 23.0, 23.5, 28.0])
    assert pareto_front([a, b]) == ([1.0, 1.5, 2.0, 4.0, 5.0], [20.0, 23.0, 24.0, 26.0, 28.0])


def test_summary_compares_each_structure_with_its_own_front() -> None:
    """The random-access curve is measured against the random-access low-res front and the
    low-delay curve against the low-delay one; fails if the fronts mix structures."""

    def rec(codec: str, rate: float, db: float) -> dict:
        return {"clip": "c", "codec": codec, "kbps": rate, "psnr_rgb": db}

    rates = [2.0, 4.0, 8.0, 16.0]
    records = [rec("svtav1-lowres-96-s1-repeat", r, 20 + r) for r in rates] + [
        rec("svtav1-lowres-ra-96-s1-repeat", r, 21 + r) for r in rates
    ]
    records += [rec("svtav1-lowres-ra-64-s2-linear", r, 19 + r) for r in rates]
    records += [rec("imfcodec", r, 22 + r) for r in rates] + [rec("imfcodec-low-delay", r, 20.5 + r) for r in rates]
    s = summarize(records)
    assert s["bd"]["svtav1-lowres-ra-front"]["bd_psnr_db"] == pytest.approx(1.0, abs=1e-6)
    assert s["bd_low_delay"]["svtav1-lowres-front"]["bd_psnr_db"] == pytest.approx(0.5, abs=1e-6)
    assert s["lowest"]["svtav1-lowres-ra-front"] == {"kbps": 2.0, "psnr_rgb": 23.0}


def _hang(*args: object, **kwargs: object) -> None:
    time.sleep(600)


def test_a_hanging_anchor_encode_is_killed_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An encoder that never returns (as SVT-AV1 once did) is killed at its time limit and
    retried, then reported in one line; a working encode returns what encode_anchor does.
    Fails if the watchdog waits forever, or changes an anchor's result."""
    frames = synthetic_frames(4, 64, 64)
    direct = anchors.encode_anchor("svtav1", frames, Fraction(25), 55, tmp_path)
    guarded = anchors.encode_anchor_guarded("svtav1", frames, Fraction(25), 55, tmp_path)
    assert guarded.es_bytes == direct.es_bytes and np.array_equal(guarded.frames, direct.frames)
    monkeypatch.setattr(anchors, "encode_anchor", _hang)  # the forked child calls it
    t0 = time.time()
    with pytest.raises(anchors.AnchorTimeout, match="did not finish in 1 s, 2 times"):
        anchors.encode_anchor_guarded("svtav1", frames, Fraction(25), 55, tmp_path, time_limit=1.0)
    assert time.time() - t0 < 20


def test_the_layer_sweep_holds_the_encoders_own_step_and_stops_above_the_range(
    tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if a step past 1–4 that --bitrate chose is missing from the like-for-like
    sweep, or if a layer shape's finer settings are coded after one already costs more than
    RATE_CEILING × the highest imfcodec rate (the sweep's cost) — or if one below it is skipped."""
    from imfcodec.bench import run
    from imfcodec.bench.layer_anchor import LAYER_CRFS, LAYER_SIDES, LAYER_STEPS

    coded: list[tuple[int, int, int]] = []

    def fake_point(loaded, point, reference, fps, source, stem):  # type: ignore[no-untyped-def]
        return {
            "codec": "imfcodec",
            "point": point,
            "kbps": 4.0,
            "file_kbps": 4.0,
            "bytes": 1,
            "layer": {"side": 96, "step": 6},
            "decoded": reference,
        }

    def fake_anchor(kind, arg, reference, fps, work):  # type: ignore[no-untyped-def]
        side, step, crf = arg
        coded.append(arg)
        rate = (70 - crf) * side / 96 / step  # finer settings (lower CRF) cost more
        rec = {"codec": f"{kind}-{side}-s{step}-repeat", "point": {"crf": crf}, "kbps": rate, "file_kbps": rate, "bytes": 1}
        return [rec | {"decoded": reference}]

    monkeypatch.setattr(run, "imfcodec_point", fake_point)
    monkeypatch.setattr(run, "anchor_points", fake_anchor)
    monkeypatch.setattr(run, "measure", lambda reference, decoded, fps=25.0: {"psnr_rgb": 30.0})
    monkeypatch.setattr(run, "write_outputs", lambda records, out: None)
    clip = write_clip(tmp_path / "c.mp4", synthetic_frames(10, 64, 64))
    run_bench([clip], str(tiny_model_path), "bitrate_kbps=4", ["svtav1-lowres-ra"], frames=8, size=64, out=tmp_path / "out", quiet=True)
    steps = sorted({s for _, s, _ in coded})
    assert steps == [*LAYER_STEPS, 6]
    for side in LAYER_SIDES:
        for step in steps:
            rates = [(70 - crf) * side / 96 / step for crf in LAYER_CRFS]
            expected = [crf for crf, r in zip(LAYER_CRFS, rates) if all(prev <= 6.0 for prev in rates[: LAYER_CRFS.index(crf)])]
            assert [c for s, k, c in coded if (s, k) == (side, step)] == expected


def test_per_clip_bd_is_taken_on_each_clips_own_front_and_averaged() -> None:
    """Fails if the per-clip BD mixes clips (one clip's front judged against another's
    curve), or if the mean is not the mean of the clips' values: imfcodec is the anchor
    +1 dB on one clip and +0 dB on the other, so 1.0, 0.0 and a mean of 0.5."""
    from imfcodec.bench.summary import per_clip_bd

    rates = [2.0, 3.0, 5.0, 8.0, 12.0]
    records = []
    for clip, lead, offset in (("a", 1.0, 0.0), ("b", 0.0, 5.0)):
        for r in rates:
            anchor = 25.0 + offset + 3 * np.log2(r)
            for codec, value in (("svtav1-lowres-ra-96-s2-linear", anchor), ("imfcodec", anchor + lead)):
                records.append({"clip": clip, "codec": codec, "kbps": r, "psnr_rgb": value, "vmaf": 10 * value})
    result = per_clip_bd(records)
    assert result["clips"]["a"]["svtav1-lowres-ra-front"]["bd_psnr_db"] == pytest.approx(1.0, abs=1e-6)
    assert result["clips"]["b"]["svtav1-lowres-ra-front"]["bd_psnr_db"] == pytest.approx(0.0, abs=1e-6)
    assert result["clips"]["a"]["conventional-best"]["bd_vmaf"] == pytest.approx(10.0, abs=1e-5)
    assert result["mean"]["svtav1-lowres-ra-front"]["bd_psnr_db"] == pytest.approx(0.5, abs=1e-6)
    assert "vvenc-lowres-front" not in result["mean"]  # no clip has that anchor


def test_cached_points_are_named_by_the_encoders_sources(tmp_path: Path) -> None:
    """A cached imfcodec point carries the hash of the sources that make and decode the file.
    Fails if an encoder change (here in codec/) leaves the hash alone, so a rerun reads back
    the last encoder's numbers, or if a bench-only change moves it and recodes everything."""
    for name in ("codec/hybrid/first_pass.py", "bitstream/header.py", "model/hybrid.py", "frames.py", "rate.py", "bench/run.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\n")
    before = codec_fingerprint(tmp_path)
    (tmp_path / "bench/run.py").write_text("# another bench\n")
    assert codec_fingerprint(tmp_path) == before
    (tmp_path / "codec/hybrid/first_pass.py").write_text("# another first pass\n")
    assert codec_fingerprint(tmp_path) != before
    assert len(codec_fingerprint()) == 12
