"""imfcodec/atomic.py: a file appears whole or not at all, and nothing of the user's is lost."""

from __future__ import annotations

import os
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
    # A stale partial left by a killed process of another id is never reused or removed.
    stale = tmp_path / ".out.partial-1"
    stale.write_text("stale")
    assert atomic.partial_path(tmp_path / "out") == tmp_path / f".out.partial-{os.getpid()}"
    atomic.write_text(tmp_path / "out", "fresh")
    assert stale.read_text() == "stale" and (tmp_path / "out").read_text() == "fresh"


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
