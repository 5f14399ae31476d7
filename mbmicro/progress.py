"""Progress bars (tqdm) for long work: build, verify, evaluate, tune, the benchmark scripts.

Why one module: every bar follows the same rule, decided here once: it goes
to stderr, and only when stderr is a terminal and ``--quiet`` was not given
(the CLI calls :func:`set_quiet` once per command), so logs, pipes, CI and
``--json`` output never see a carriage return.  The stages call
:func:`track` or :func:`bar` and never ask tqdm or the terminal themselves.
Belongs to no stage (like mbmicro.processes): every stage may import it.
"""

from __future__ import annotations

import contextlib
import sys


class _State:
    quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars for the rest of this command."""
    _State.quiet = bool(quiet)


def enabled() -> bool:
    """Whether bars are shown now: stderr is a terminal and no ``--quiet``."""
    if _State.quiet:
        return False
    return _isatty(sys.stderr)


@contextlib.contextmanager
def bar(total: int | None = None, *, desc: str, unit: str = "it"):
    """A tqdm bar on stderr, for the block (a disabled one when :func:`enabled` says no).

    While it shows, Python's own prints to the terminal (warnings, result lines)
    go through tqdm, so they land on lines of their own above the bar instead of
    in the middle of it; the bar is erased when the block ends."""
    from tqdm import tqdm

    show = enabled()
    err, out = sys.stderr, sys.stdout
    routed = isinstance(err, _Through)  # a bar inside another's block: draw on the terminal itself
    with tqdm(total=total, desc=desc, unit=unit, file=err.stream if routed else err, disable=not show,
              leave=False, dynamic_ncols=True) as b:
        if not show or routed:  # nothing to route, or the outer bar routes already
            yield b
            return
        sys.stderr = _Through(err)
        if _isatty(out):
            sys.stdout = _Through(out)
        try:
            yield b
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            sys.stderr, sys.stdout = err, out


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _Through:
    """A text stream whose complete lines are written with tqdm.write (above the bars)."""

    def __init__(self, stream) -> None:
        self.stream, self._buf = stream, ""

    def write(self, text: str) -> int:
        from tqdm import tqdm

        head, nl, self._buf = (self._buf + text).rpartition("\n")
        if nl:
            tqdm.write(head, file=self.stream)
        return len(text)

    def flush(self) -> None:
        if self._buf:
            from tqdm import tqdm

            tqdm.write(self._buf, file=self.stream, end="")
            self._buf = ""
        self.stream.flush()

    def __getattr__(self, name):  # isatty, fileno, encoding ...: the real stream's
        return getattr(self.stream, name)


def track(items, *, desc: str, unit: str = "it", name=None, total: int | None = None):
    """Yield from ``items`` while a bar counts them; ``name(item)`` (optional) is shown beside the bar.

    ``total`` is for an iterator without a length (results arriving from a pool)."""
    with bar(len(items) if total is None and hasattr(items, "__len__") else total, desc=desc, unit=unit) as b:
        for item in items:
            if name is not None and not b.disable:
                b.set_postfix_str(str(name(item))[:40], refresh=False)
            yield item
            b.update(1)


@contextlib.contextmanager
def step(desc: str):
    """One long step without a count (compiling, quantizing): its name stays up while it runs."""
    with bar(1, desc=desc, unit="step") as b:
        yield
        b.update(1)
