"""Files appear whole or not at all: every file or folder imfcodec produces is written
under a temporary name beside its final one and renamed into place when complete.

Torch-free, so that imfcodec.bitstream can use it. The temporary name carries a tag of
the machine and the process id: a run killed with SIGKILL leaves `.NAME.partial-HOST-PID`,
which no later run mistakes for its own work. The next run that writes NAME removes such
leftovers when they are this machine's and their process is gone; another machine's (a
shared folder) or a live process's are left alone.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@functools.cache
def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def partial_path(path: str | Path) -> Path:
    """The temporary name `path` is written under: hidden, beside it, unique to this process
    on this machine."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial-{_host_tag()}-{os.getpid()}")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Remove the temporary files or folders that killed runs of this machine left for
    `path`; returns them. One whose process still runs, or made on another machine, stays."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.partial-{_host_tag()}-") + r"(\d+)")
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _process_exists(int(match.group(1))):
            discard(entry)
            removed.append(entry)
    return removed


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder, if it exists."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


_stop_requested = False


def request_stop() -> None:
    """A termination was asked for (SIGTERM): from now on nothing is committed. The signal
    handler's KeyboardInterrupt can be swallowed, when it lands in a finaliser (`__del__`:
    Python only prints it) and the run goes on; a commit after that would leave an output
    the user asked not to get."""
    global _stop_requested
    _stop_requested = True


def commit(tmp: Path, path: str | Path, replace_folder: bool = False) -> None:
    """Rename `tmp` to `path` in one step. An existing folder at `path` is replaced only
    with replace_folder (FileExistsError otherwise): it may hold someone's files. After
    request_stop, a KeyboardInterrupt instead (the caller removes `tmp`)."""
    if _stop_requested:
        raise KeyboardInterrupt
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
    remove_stale_partials(path)
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
