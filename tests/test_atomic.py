"""imfcodec/atomic.py: a file appears whole or not at all, and nothing of the user's is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imfcodec import atomic


def test_success_renames_into_place_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [target]


def test_temporary_name_is_this_process_own(tmp_path: Path) -> None:
    # Another process's partial (a live one here: this test's parent) is never reused or
    # removed, nor one in the old format without a machine tag, nor another machine's.
    tag = atomic._host_tag()
    live = tmp_path / f".out.partial-{tag}-{os.getppid()}"
    untagged = tmp_path / ".out.partial-1"
    elsewhere = tmp_path / ".out.partial-0123abcd-1"
    for f in (live, untagged, elsewhere):
        f.write_text("theirs")
    assert atomic.partial_path(tmp_path / "out") == tmp_path / f".out.partial-{tag}-{os.getpid()}"
    atomic.write_text(tmp_path / "out", "fresh")
    assert all(f.read_text() == "theirs" for f in (live, untagged, elsewhere))
    assert (tmp_path / "out").read_text() == "fresh"


def test_a_killed_runs_leftovers_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """A SIGKILLed writer's file and folder (its process gone) are removed when the same
    output is written next; another output's leftovers stay. Fails if stale partials
    accumulate, or if the sweep reaches beyond the output being written."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    dead = int(proc.stdout)  # exited: nothing runs under this id (short of reuse within ms)
    tag = atomic._host_tag()
    stale_file = tmp_path / f".out.imf.partial-{tag}-{dead}"
    stale_file.write_bytes(b"half")
    stale_folder = tmp_path / f".frames.partial-{tag}-{dead}"
    stale_folder.mkdir()
    (stale_folder / "000000.png").write_bytes(b"x")
    atomic.write_bytes(tmp_path / "out.imf", b"whole")
    assert not stale_file.exists() and stale_folder.exists()
    with atomic.atomic_path(tmp_path / "frames", folder=True) as tmp:
        assert list(tmp.iterdir()) == []  # the stale frames are not this run's
        (tmp / "000000.png").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "out.imf"]


def test_folder_in_the_way_is_kept_unless_replacing_is_asked(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    target.mkdir()
    (target / "mine.txt").write_text("the user's")
    with pytest.raises(FileExistsError):
        with atomic.atomic_path(target, folder=True) as tmp:
            (tmp / "000000.png").write_bytes(b"x")
    assert (target / "mine.txt").read_text() == "the user's" and len(list(tmp_path.iterdir())) == 1
    with atomic.atomic_path(target, folder=True, replace_folder=True) as tmp:
        (tmp / "000000.png").write_bytes(b"x")
    assert [p.name for p in target.iterdir()] == ["000000.png"]


def test_files_get_the_umask_not_private_modes(tmp_path: Path) -> None:
    with atomic.atomic_path(tmp_path / "w") as tmp:
        tmp.write_bytes(b"x")
        tmp.chmod(0o600)  # as safetensors' writer leaves it
    reference = tmp_path / "plain"
    reference.write_bytes(b"x")
    assert (tmp_path / "w").stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_nothing_is_committed_once_a_stop_was_requested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After SIGTERM's request_stop, a write that got past the interrupt (swallowed in a
    finaliser, where Python only prints it) still leaves nothing: its commit raises and the
    partial file is removed. Fails if commit renames regardless."""
    monkeypatch.setattr(atomic, "_stop_requested", False)
    atomic.write_text(tmp_path / "before.txt", "kept")
    atomic.request_stop()
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text(tmp_path / "after.txt", "never")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["before.txt"]
