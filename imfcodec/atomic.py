"""Files appear whole or not at all: every file or folder imfcodec produces is written
under a temporary name beside its final one and renamed into place when complete.

Torch-free, so that imfcodec.bitstream can use it. The temporary name carries the
process id: a run killed with SIGKILL leaves `.NAME.partial-PID`, which no later run
mistakes for its own work.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def partial_path(path: str | Path) -> Path:
    """The temporary name `path` is written under: hidden, beside it, unique to this process."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder, if it exists."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


def commit(tmp: Path, path: str | Path, replace_folder: bool = False) -> None:
    """Rename `tmp` to `path` in one step. An existing folder at `path` is replaced only
    with replace_folder (FileExistsError otherwise): it may hold someone's files."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        if not replace_folder:
            raise FileExistsError(17, "a folder is in the way", str(path))
        shutil.rmtree(path)
    if tmp.is_file():
        # Some writers (safetensors among them) create their files private (0600); what
        # imfcodec produces is as readable as any other file the user makes.
        os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


@contextmanager
def atomic_path(path: str | Path, folder: bool = False, replace_folder: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s content to (an empty folder when `folder`);
    on success it becomes `path`, on any exception it is removed and `path` is untouched."""
    tmp = partial_path(path)
    discard(tmp)
    if folder:
        tmp.mkdir()
    try:
        yield tmp
        commit(tmp, path, replace_folder)
    except BaseException:
        discard(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
