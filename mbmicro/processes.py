"""Child processes and the signals that stop mbmicro, so that an interruption leaves nothing behind.

Why signals become an exception: ``timeout 600 mbmicro build`` sends SIGTERM,
whose default action ends Python at once, without running a single
``finally``; the staging folder, temp folders and running compilers would
stay.  :func:`signal_handlers` turns SIGINT and SIGTERM alike into
:class:`Interrupted` (a KeyboardInterrupt), so every context manager cleans
up, and records which signal came: TVM's FFI turns an exception raised in a
Python callback into a bare RuntimeError, and the CLI must still see it as
the interruption it is (:func:`interrupted_by`).

Why every child runs through :func:`run_child`: a signal sent to mbmicro
alone (``kill PID``, ``timeout``) never reaches ``make``, ``gcc``, ``cc1`` or
QEMU.  Each child gets a session (process group) of its own, and when the
call is interrupted or times out, the whole group is stopped: SIGTERM, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

#: Seconds a child's process group has to exit after SIGTERM before it gets SIGKILL.
GRACE_S = 2.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class _State:
    received: int | None = None  # the first signal, once one arrived
    deferring = 0  # depth of deferred_interrupts() blocks
    pending = False  # a signal arrived inside such a block


def _handler(signum: int, frame) -> None:
    """Raise Interrupted for the first signal; later ones are ignored so that cleanup can finish."""
    if _State.received is not None:
        return
    _State.received = signum
    if _State.deferring:
        _State.pending = True
        return
    raise Interrupted(signum)


def interrupted_by() -> int | None:
    """The signal that interrupted this command, or None: any exception after one is its consequence."""
    return _State.received


@contextlib.contextmanager
def signal_handlers():
    """SIGINT and SIGTERM raise Interrupted inside the block; the previous handlers come back after it.

    Only the main thread can install handlers: elsewhere (a command run from
    a worker thread), and inside another such block, the block runs with the
    handlers it already has.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is _handler:
        yield  # a worker thread, or a command run by a command: the outer block handles signals
        return
    _State.received, _State.deferring, _State.pending = None, 0, False
    previous = {s: signal.signal(s, _handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.received, _State.pending = None, False  # a later command in this process starts afresh


@contextlib.contextmanager
def deferred_interrupts():
    """A signal arriving inside the block is raised when it ends: steps that must not be split
    (renaming a finished build into place) are completed first.

    Signal handlers run in the main thread only, so other threads (builds run
    by a thread pool) have nothing to defer and leave the shared count alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.pending:
            _State.pending = False
            raise Interrupted(_State.received)


def run_child(cmd: list[str], *, cwd=None, env: dict | None = None, text: bool = False,
              timeout: float | None = None, check: bool = False,
              input: bytes | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd, capture_output=True)`` in a session of its own, stopped as a whole when interrupted.

    stdin is /dev/null, or ``input`` (bytes: ssh sends a board its input this
    way).  A timeout raises subprocess.TimeoutExpired, ``check``
    subprocess.CalledProcessError, like subprocess.run; in both and on any
    interruption the child and everything it started are stopped first.
    """
    stdin = subprocess.DEVNULL if input is None else subprocess.PIPE
    with subprocess.Popen(cmd, cwd=cwd, env=env, text=text, stdin=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except BaseException:
            stop_group(proc)
            raise
    if check and proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out, err)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def stop_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL to whatever is left after ``grace`` s; reaps ``proc``.

    The leader is reaped only after the SIGKILL: until then its id stays
    taken, so the group id cannot name someone else's processes.  The SIGKILL
    also reaches members that outlive the leader (``cc1`` after ``make``).
    """
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while not _exited(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _exited(pid: int) -> bool:
    """Whether child ``pid`` has exited, without reaping it."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return True
    return info is not None
