"""imfcodec/watchdog.py: encoder calls that can hang are killed at a time limit and retried."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from imfcodec.codec.hybrid import base_layer
from imfcodec.codec.hybrid.base_layer import BaseLayerError, encode_base
from imfcodec.watchdog import Hung, call_all_with_time_limit, call_with_time_limit
from tests.conftest import synthetic_frames


def test_a_result_and_an_error_come_back_from_the_child() -> None:
    """Fails if the child's result or its exception (type and message) is lost on the way."""
    frames = synthetic_frames(3, 32, 32)
    assert np.array_equal(call_with_time_limit(lambda: frames * 2, 10, "doubling"), frames * 2)

    def fails() -> None:
        raise BaseLayerError("no such CRF")

    with pytest.raises(BaseLayerError, match="no such CRF"):
        call_with_time_limit(fails, 10, "failing")


def test_a_hung_call_is_killed_retried_and_reported(tmp_path: Path) -> None:
    """Each attempt is killed at the limit; after the last, one error names the call.
    Fails if the watchdog waits forever, tries once only, or leaves the children running."""
    tries = tmp_path / "tries"

    def hangs() -> None:
        with open(tries, "a") as f:
            f.write("x")
        time.sleep(600)

    t0 = time.time()
    with pytest.raises(Hung, match="sleeping did not finish in 1 s, 2 times"):
        call_with_time_limit(hangs, 1.0, "sleeping")
    assert time.time() - t0 < 20 and tries.read_text() == "xx"


def test_a_base_layer_encode_that_hangs_once_is_done_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The base layer's SVT-AV1 encode once hung at its flush: encode_base kills it and runs
    it again, and the bytes are those of an encode that did not hang. Fails if encode_base
    runs the encoder outside the watchdog."""
    frames = synthetic_frames(4, 64, 64)
    expected = encode_base(frames, 50)
    first = tmp_path / "first"
    real = base_layer._encode_base

    def hangs_the_first_time(*args: object) -> bytes:
        if not first.exists():
            first.touch()
            time.sleep(600)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(base_layer, "_encode_base", hangs_the_first_time)
    monkeypatch.setattr(base_layer, "base_time_limit", lambda frames: 2.0)
    t0 = time.time()
    assert encode_base(frames, 50) == expected
    assert first.exists() and time.time() - t0 < 20


def test_a_keyframe_encode_that_hangs_once_is_done_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyframes go through SVT-AV1 too: the same watchdog, the same bytes on the retry.
    Fails if KeyframeCodec.encode calls the encoder outside the watchdog."""
    from imfcodec.codec import keyframes

    codec = keyframes.get_codec("av1")
    frame = synthetic_frames(1, 64, 64)[0]
    expected = codec.encode(frame, 3)
    first = tmp_path / "first"
    real = keyframes.KeyframeCodec._encode

    def hangs_the_first_time(self: keyframes.KeyframeCodec, rgb: np.ndarray, quality: int) -> bytes:
        if not first.exists():
            first.touch()
            time.sleep(600)
        return real(self, rgb, quality)

    monkeypatch.setattr(keyframes.KeyframeCodec, "_encode", hangs_the_first_time)
    monkeypatch.setattr(keyframes, "KEYFRAME_TIME_LIMIT", 2.0)
    t0 = time.time()
    assert codec.encode(frame, 3) == expected
    assert first.exists() and time.time() - t0 < 20


def test_a_stop_signal_during_the_watched_call_ends_the_caller(tmp_path: Path) -> None:
    """SIGTERM sent while the caller forks or waits reaches its handler in the caller (as
    KeyboardInterrupt, the CLI's way), and the child is killed, not left running. Fails if
    the signal is lost in the fork (an encode once ran on after SIGTERM) or the child
    outlives the call."""
    import os
    import signal
    import subprocess
    import sys

    marker = tmp_path / "child"
    code = f"""
import os, signal, sys, time
from pathlib import Path
from imfcodec.watchdog import call_with_time_limit
def stop(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
def work():
    Path({str(marker)!r}).write_text(str(os.getpid()))
    time.sleep(60)
try:
    for _ in range(1000):
        call_with_time_limit(work, 30, "sleeping")
except KeyboardInterrupt:
    sys.exit(130)
"""
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 30
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    child = int(marker.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped by the caller
        os.kill(child, 0)


def test_calls_side_by_side_come_back_in_order_and_overlap(tmp_path: Path) -> None:
    """call_all_with_time_limit runs its calls two at a time and returns their results in
    the calls' order. Each call waits (up to 20 s) until its partner has started: fails if
    the calls run one after another (the second never starts while the first waits, and the
    first reports it), or if results come back out of order."""

    def meet(me: int, partner: int) -> tuple[int, bool]:
        (tmp_path / str(me)).touch()
        deadline = time.time() + 20
        while not (tmp_path / str(partner)).exists() and time.time() < deadline:
            time.sleep(0.01)
        return me, (tmp_path / str(partner)).exists()

    fns = [lambda: meet(0, 1), lambda: meet(1, 0), lambda: meet(2, 3), lambda: meet(3, 2)]
    assert call_all_with_time_limit(fns, 60, "meeting", workers=2) == [(0, True), (1, True), (2, True), (3, True)]


def test_side_by_side_a_hung_call_is_done_again_and_an_error_comes_back(tmp_path: Path) -> None:
    """One call hangs the first time: it is killed at the limit and done again alone, the
    other's result kept. A call that raises has its exception raised in the caller. Fails if
    a hung child stalls the batch, is not retried, or an exception is lost."""
    first = tmp_path / "first"

    def hangs_once() -> str:
        if not first.exists():
            first.touch()
            time.sleep(600)
        return "again"

    t0 = time.time()
    assert call_all_with_time_limit([hangs_once, lambda: "quick"], 1.5, "sleeping", workers=2) == ["again", "quick"]
    assert time.time() - t0 < 20

    def fails() -> str:
        raise BaseLayerError("no such CRF")

    with pytest.raises(BaseLayerError, match="no such CRF"):
        call_all_with_time_limit([lambda: "fine", fails], 10, "failing", workers=2)
