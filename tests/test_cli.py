"""The command line: subcommands, summaries, and every error as one line with a non-zero exit."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from imfcodec.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, needle: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert needle in " ".join(result.output.split()), result.output


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory, clip: Path, tiny_model_path: Path) -> Path:
    out = tmp_path_factory.mktemp("cli") / "clip.imf"
    result = run("encode", clip, out, "--model", tiny_model_path, "--refresh-psnr", "0", "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_help_lists_the_subcommands() -> None:
    result = run("--help")
    for name in ("encode", "decode", "info", "train", "bench"):
        assert name in result.output


def test_help_keeps_its_bracketed_words() -> None:
    """Rich reads "[bench]" in a help text as markup and drops it ("needs ." was printed):
    such words must be escaped. Fails if an unescaped bracket comes back into bench's help."""
    result = run("bench", "--help")
    assert "needs .[bench]" in " ".join(result.output.replace("│", " ").split()), result.output


def test_encode_summary_and_info(tmp_path: Path, clip: Path, tiny_model_path: Path) -> None:
    out = tmp_path / "a.imf"
    result = run("encode", clip, out, "--model", tiny_model_path, "--refresh-psnr", "0", "--no-audio")
    assert result.exit_code == 0, result.output
    assert "kbps" in result.output and "keyframes" in result.output
    info = json.loads(run("info", out, "--json").stdout)
    assert info["frames"] == 20 and info["keyframes"] == 1 and info["audio"] is None
    assert set(info["kbps"]) >= {"keyframes", "tokens", "audio", "overhead", "total"}
    assert run("info", out).exit_code == 0


def test_decode_by_model_path(tmp_path: Path, encoded: Path, tiny_model_path: Path) -> None:
    out = tmp_path / "a.mkv"
    result = run("decode", encoded, out, "--model", tiny_model_path, "--quiet")
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20


def test_missing_input(tmp_path: Path, tiny_model_path: Path) -> None:
    assert_one_line_error(run("encode", tmp_path / "nope.mp4", tmp_path / "o.imf", "--model", tiny_model_path), "no such file")
    assert not (tmp_path / "o.imf").exists()


def test_unreadable_input(tmp_path: Path, tiny_model_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video at all" * 10)
    assert_one_line_error(run("encode", bad, tmp_path / "o.imf", "--model", tiny_model_path), "not a readable video")


def test_no_video_stream(tmp_path: Path, tiny_model_path: Path) -> None:
    import numpy as np

    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for p in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(p)
    assert_one_line_error(run("encode", audio_only, tmp_path / "o.imf", "--model", tiny_model_path), "no video stream")


def test_zero_frames(tmp_path: Path, tiny_model_path: Path) -> None:
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width = s.height = 64
        s.pix_fmt = "bgr0"
        c.start_encoding()  # a header and a video stream, but not one frame
    assert_one_line_error(run("encode", empty, tmp_path / "o.imf", "--model", tiny_model_path), "no frames")
    assert not list(tmp_path.glob("o.imf*"))


def test_not_an_imf_file(tmp_path: Path, clip: Path, tiny_model_path: Path) -> None:
    assert_one_line_error(run("decode", clip, tmp_path / "o.mp4", "--model", tiny_model_path), "not an .imf file")
    assert_one_line_error(run("info", clip), "not an .imf file")


def test_truncated_file(tmp_path: Path, encoded: Path, tiny_model_path: Path) -> None:
    cut = tmp_path / "cut.imf"
    cut.write_bytes(encoded.read_bytes()[:-40])
    assert_one_line_error(run("decode", cut, tmp_path / "o.mp4", "--model", tiny_model_path), "truncated")
    assert not (tmp_path / "o.mp4").exists()


def test_crc_mismatch(tmp_path: Path, encoded: Path) -> None:
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 0x55
    bad = tmp_path / "bad.imf"
    bad.write_bytes(bytes(data))
    result = run("info", bad)
    assert_one_line_error(result, "CRC mismatch in chunk")
    assert "byte offset" in result.output


def test_unsupported_version(tmp_path: Path, encoded: Path) -> None:
    data = bytearray(encoded.read_bytes())
    data[4] = 2
    bad = tmp_path / "v2.imf"
    bad.write_bytes(bytes(data))
    assert_one_line_error(run("info", bad), "unsupported .imf version 2.0")


def test_model_mismatch(tmp_path: Path, encoded: Path, tiny_model_path: Path) -> None:
    import numpy as np
    import torch

    from imfcodec.model import IMF, preset
    from imfcodec.model.prior import frozen_tables
    from imfcodec.model.weights import save_weights

    torch.manual_seed(1)
    other = tmp_path / "other.safetensors"
    other_id = save_weights(IMF(preset("tiny", size=64, token_dim=16)), other, tables=frozen_tables(np.ones((8, 16))))
    result = run("decode", encoded, tmp_path / "o.mp4", "--model", other)
    assert_one_line_error(result, "model mismatch")
    flat = "".join(result.output.split())
    assert other_id in flat and json.loads(run("info", encoded, "--json").stdout)["model_id"] in flat


def test_missing_model_names_the_id(tmp_path: Path, encoded: Path) -> None:
    result = run("decode", encoded, tmp_path / "o.mp4")
    assert_one_line_error(result, "does not have")


def test_output_folder_missing(tmp_path: Path, clip: Path, encoded: Path, tiny_model_path: Path) -> None:
    assert_one_line_error(run("encode", clip, tmp_path / "no" / "o.imf", "--model", tiny_model_path), "output folder does not exist")
    assert_one_line_error(run("decode", encoded, tmp_path / "no" / "o.mp4", "--model", tiny_model_path), "output folder does not exist")


def test_disk_full(tmp_path: Path, clip: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imfcodec.bitstream.container as container

    def full(self, group):  # the disk fills while the first group is written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(container.Writer, "write_group", full)
    result = run("encode", clip, tmp_path / "o.imf", "--model", tiny_model_path)
    assert_one_line_error(result, "disk full")
    assert list(tmp_path.iterdir()) == []


def test_bad_options(tmp_path: Path, clip: Path, tiny_model_path: Path) -> None:
    assert_one_line_error(run("encode", clip, tmp_path / "o.mp4", "--model", tiny_model_path), "must end in .imf")


def test_encode_an_image_folder(tmp_path: Path, encoded: Path, tiny_model_path: Path) -> None:
    # The decoder's PNG-folder output is a valid encoder input, at the frame rate given.
    pngs = tmp_path / "frames"
    assert run("decode", encoded, pngs, "--model", tiny_model_path, "--quiet").exit_code == 0
    out = tmp_path / "again.imf"
    result = run("encode", pngs, out, "--model", tiny_model_path, "--fps", "30000/1001", "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads(run("info", out, "--json").stdout)
    assert info["frames"] == 20 and info["fps"] == "30000/1001"
    assert_one_line_error(run("encode", pngs, tmp_path / "x.imf", "--model", tiny_model_path, "--fps", "fast"), "not a frame rate")
    assert_one_line_error(run("encode", tmp_path, tmp_path / "y.imf", "--model", tiny_model_path), "a folder with no images")


def test_a_bug_is_named_not_disguised(tmp_path: Path, encoded: Path, monkeypatch) -> None:
    """An exception that is not an ImfcodecError is a bug: one line that names it and says
    how to see the traceback (exit 2), and --debug shows the traceback itself."""
    import imfcodec.codec.info as info

    def broken(_imf):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(info, "describe", broken)
    monkeypatch.delenv("IMFCODEC_DEBUG", raising=False)
    result = run("info", encoded)
    assert result.exit_code == 2
    assert_one_line_error(result, "internal error TypeError: unsupported operand")
    assert "--debug" in result.output
    result = run("--debug", "info", encoded)
    assert isinstance(result.exception, TypeError)
    monkeypatch.delenv("IMFCODEC_DEBUG", raising=False)


def test_user_errors_from_every_layer_are_one_line(tmp_path: Path, clip: Path, tiny_model_path: Path) -> None:
    # A bad --quality (checked once, in imfcodec.quality) and a bad recipe name (training).
    assert_one_line_error(
        run("encode", clip, tmp_path / "o.imf", "--model", tiny_model_path, "--quality", "9"), "--quality must be in 1..8"
    )
    result = run("train", "--data", str(tmp_path), "--config", "no_such_recipe")
    assert result.exit_code == 1
    assert_one_line_error(result, "unknown recipe 'no_such_recipe'")


@pytest.mark.parametrize(
    ("args", "needle", "code"),
    [
        (["decode", "a.imf", "b.mp4", "--batch-size", "0"], "--batch-size", 2),
        (["encode", "a.mp4", "b.imf", "--quality", "high"], "--quality", 2),
        (["info"], "Missing argument", 2),
        (["encode", "a.mp4", "b.imf", "--sharpness", "3"], "--sharpness", 2),
        (["encode", "a.mp4", "b.imf", "--refresh-psnr", "nan"], "--refresh-psnr", 1),
    ],
)
def test_bad_command_lines_are_one_line(tmp_path: Path, args: list[str], needle: str, code: int) -> None:
    """Parse errors (ranges, types, missing or unknown options) through the real entry point."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "imfcodec.cli", *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "╭" not in result.stderr, result.stderr


def test_sigterm_leaves_nothing_behind(tmp_path: Path, tiny_model_path: Path) -> None:
    """A terminated encode removes its partial file, as Ctrl-C does."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import synthetic_frames, write_clip

    source = write_clip(tmp_path / "long.mp4", synthetic_frames(400, 64, 64))
    out = tmp_path / "out"
    out.mkdir()
    args = [sys.executable, "-m", "imfcodec.cli", "encode", str(source), str(out / "o.imf"), "--model", str(tiny_model_path), "-q"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list(out.glob("*partial*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the encode ended before it could be terminated"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert list(out.iterdir()) == []


def test_sample_writes_the_shipped_talking_head(tmp_path: Path) -> None:
    """The README's first command starts here: the real clip, whole (5 s, 256², 25 fps)."""
    from imfcodec.codec.sample import TALKING_HEAD
    from imfcodec.codec.video_io import iter_frames, probe

    out = tmp_path / "sample.mp4"
    assert run("sample", out).exit_code == 0
    assert out.read_bytes() == TALKING_HEAD.read_bytes() and out.stat().st_size <= 300_000
    info = probe(out)
    assert (info.width, info.height, info.fps) == (256, 256, 25) and sum(1 for _ in iter_frames(out)) == 125
    assert (TALKING_HEAD.parent / "talking-head.md").read_text().count("Apache") >= 1  # its licence beside it
    assert_one_line_error(run("sample", tmp_path / "sample.mkv"), "name the output .mp4")
    assert run("sample", tmp_path / "pattern.mp4", "--synthetic").exit_code == 0
    assert probe(tmp_path / "pattern.mp4").has_audio


def test_an_interrupted_training_run_says_its_checkpoints_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in `imfcodec train` keeps the run folder's checkpoints (unlike an encode, which
    removes its partial output), and says so with how to go on. Fails if train reports
    "nothing was written" or exits with anything but 130."""
    import imfcodec.training.launcher as launcher

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(launcher, "launch", interrupted)
    result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 130
    assert "--resume continues" in result.output and "nothing was written" not in result.output
