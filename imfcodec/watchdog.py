"""Calls into encoder libraries that can hang, made to end: the call runs in a forked child
that is killed at a time limit and started again. SVT-AV1 (4.1, through PyAV) was seen
waiting on a futex forever, at the flush of a 96² base layer in one of about 400 encodes;
the same encode run again returned. Torch-free."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from multiprocessing import Pipe
from typing import TypeVar

from .errors import ImfcodecError

T = TypeVar("T")
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Hung(ImfcodecError):
    """A call that did not finish in its time limit, every time it was tried."""


def call_with_time_limit(fn: Callable[[], T], time_limit: float, what: str, attempts: int = 2, hung: type[Hung] = Hung) -> T:
    """fn() in a forked child, its result sent back over a pipe (so it must pickle). A child
    still running after `time_limit` seconds is killed and the call made again, up to
    `attempts` times; then `hung` is raised naming `what`. An exception in fn is raised here.
    The child inherits everything (frames need no copying): fn can be a closure."""
    for _ in range(attempts):
        receiver, sender = Pipe(duplex=False)
        # Ctrl-C and SIGTERM wait while the process forks: a handler that raises inside
        # os.fork's at-fork hooks (logging's lock release) has its exception swallowed, and
        # an encode terminated there ran on to the end (seen once in CI).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
        if pid == 0:  # the child: run, send, and leave without running the parent's cleanup
            status = 0
            try:
                for stop in STOP_SIGNALS:  # the parent's handlers are the parent's business
                    signal.signal(stop, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                receiver.close()
                try:
                    sender.send(("ok", fn()))
                except BaseException as exc:  # noqa: BLE001 - handed to the parent
                    try:
                        sender.send(("error", exc))
                    except Exception:  # an exception that does not pickle
                        sender.send(("error", ImfcodecError(f"{what}: {type(exc).__name__}: {exc}")))
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        sender.close()
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal that came meanwhile acts here
            if receiver.poll(time_limit):
                try:
                    status, payload = receiver.recv()
                except EOFError:
                    raise ImfcodecError(f"{what}: the worker process died") from None
                if status == "error":
                    raise payload
                return payload  # type: ignore[no-any-return]
        finally:
            receiver.close()
            _end(pid)
    raise hung(f"{what} did not finish in {time_limit:.0f} s, {attempts} times")


def _end(pid: int) -> None:
    """Reap the child, killing it first if it is still running."""
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
