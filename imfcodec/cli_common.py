"""What every `imfcodec` command shares: one-line errors with the right exit code, the
device and frame-rate arguments, and the progress bar."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from .errors import ImfcodecError

if TYPE_CHECKING:
    from .codec.summary import EncodeSummary

console = Console(stderr=True)


DEBUG_ENV = "IMFCODEC_DEBUG"


def say(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True, markup=True)


@contextmanager
def errors(output: Path | None = None, interrupted: str = "nothing was written") -> Iterator[None]:
    """Turn every failure into one line on stderr and a non-zero exit.

    ImfcodecError is the user's to fix (exit 1); an operating-system error names its file
    (exit 1); anything else is a bug in imfcodec: named with how to see its traceback (exit 2).
    """
    try:
        yield
    except ImfcodecError as exc:
        say(escape(str(exc)))
        raise typer.Exit(1) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            say(f"disk full while writing {escape(str(output or 'the output'))}")
        else:
            where = exc.filename or output or ""
            say(escape(f"{exc.strerror or exc}: {where}"))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print(f"[red]interrupted[/red]: {interrupted}")
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        say(escape(f"internal error {type(exc).__name__}: {exc} (a bug in imfcodec; rerun with --debug for the traceback)"))
        raise typer.Exit(2) from None


def device_named(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ImfcodecError("--device cuda: no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise ImfcodecError(f"--device must be auto, cpu or cuda, got {name!r}")
    return name


def frame_rate(text: str) -> Fraction:
    """'25', '29.97' or '30000/1001' -> a positive Fraction."""
    try:
        rate = Fraction(text).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError):
        raise ImfcodecError(f"--fps {text!r}: not a frame rate (25, 29.97 or 30000/1001)") from None
    if not 0 < rate <= 1000:
        raise ImfcodecError(f"--fps {text!r}: must be above 0 and at most 1000")
    return rate


def progress(quiet: bool, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[fps]} fps"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=True,  # an error then leaves only its own line
    )


def encode_summary_table(output: Path, summary: EncodeSummary, keyframe_codec: str, size: int) -> Table:
    """What `encode` prints when it is done: frames, groups and keyframes (in `info`'s words),
    the rate per part, the in-loop PSNR and the speed."""
    from .codec.info import group_rows

    rate = summary.kbps()
    table = Table(title=f"{output}", show_header=False)
    table.add_row("frames", f"{summary.frames} ({summary.frames / summary.fps:.2f} s at {summary.fps:.3f} fps)")
    for row in group_rows(summary.keyframe_positions, keyframe_codec):
        table.add_row(*row)
    table.add_row(
        "rate",
        f"{rate['total']:.2f} kbps = keyframes {rate['keyframes']:.2f} + base {rate['base']:.2f} + tokens {rate['tokens']:.2f} "
        f"+ overhead {rate['overhead']:.2f} + audio {rate['audio']:.2f}",
    )
    if summary.psnr_measured:
        table.add_row("in-loop PSNR", f"{summary.mean_psnr:.2f} dB (RGB, vs the {size}² source)")
    else:
        table.add_row("in-loop PSNR", "not measured (--no-psnr)")
    table.add_row("speed", f"{summary.frames / summary.seconds:.1f} frames/s, the whole encode")
    return table
