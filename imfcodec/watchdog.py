"""Calls into encoder libraries that can hang, made to end: the call runs in a forked child
that is killed at a time limit and started again. SVT-AV1 (4.1, through PyAV) was seen
waiting on a futex forever, at the flush of a 96² base layer in one of about 400 encodes;
the same encode run again returned. Torch-free."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

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
        receiver, pid = _start(fn, what)
        try:
            if receiver.poll(time_limit):
                result: T = _receive(receiver, what)
                return result
        finally:
            receiver.close()
            _end(pid)
    raise hung(f"{what} did not finish in {time_limit:.0f} s, {attempts} times")


def call_all_with_time_limit(fns: Sequence[Callable[[], T]], time_limit: float, what: str, workers: int) -> list[T]:
    """[fn() for fn in fns], up to `workers` of them at once, each in its own forked child
    under `time_limit` (call_with_time_limit's rules: a child past its limit is killed and
    its call made again, alone). The first exception in a call is raised here, the other
    children killed and reaped first.
    The encoder's candidate layers are independent CRF searches of single-threaded SVT-AV1
    encodes: side by side they use the cores one search leaves idle."""
    results: dict[int, T] = {}
    pending = list(range(len(fns)))
    running: dict[Connection, tuple[int, int, float]] = {}  # receiver -> (index, pid, started)
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                i = pending.pop(0)
                receiver, pid = _start(fns[i], what)
                running[receiver] = (i, pid, time.monotonic())
            first_deadline = min(started for _, _, started in running.values()) + time_limit
            for ready in wait(list(running), timeout=max(0.0, first_deadline - time.monotonic())):
                done = cast(Connection, ready)  # wait hands back the receivers it was given
                i, pid, _ = running.pop(done)
                try:
                    results[i] = _receive(done, what)
                finally:
                    done.close()
                    _end(pid)
            for receiver, (i, pid, started) in list(running.items()):
                if time.monotonic() - started >= time_limit:  # hung: the rest go on, this one again alone
                    del running[receiver]
                    receiver.close()
                    _end(pid)
                    results[i] = call_with_time_limit(fns[i], time_limit, what, attempts=1)
    finally:
        for receiver, (_, pid, _) in running.items():
            receiver.close()
            _end(pid)
    return [results[i] for i in range(len(fns))]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _start(fn: Callable[[], object], what: str) -> tuple[Connection, int]:
    """fn() in a forked child that sends ("ok", result) or ("error", exception) and exits:
    (the parent's end of the pipe, the child's pid)."""
    receiver, sender = Pipe(duplex=False)
    # Ctrl-C and SIGTERM wait while the process forks: a handler that raises inside
    # os.fork's at-fork hooks (logging's lock release) has its exception swallowed, and
    # an encode terminated there ran on to the end (seen once in CI).
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        receiver.close()
        sender.close()
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
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal that came meanwhile acts here
    return receiver, pid


def _receive(receiver: Connection, what: str) -> Any:
    """The child's result, or its exception raised here."""
    try:
        status, payload = receiver.recv()
    except EOFError:
        raise ImfcodecError(f"{what}: the worker process died") from None
    if status == "error":
        raise payload
    return payload


def _end(pid: int) -> None:
    """Reap the child, killing it first if it is still running."""
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done == 0:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
