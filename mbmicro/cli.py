"""The ``mbmicro`` command line: a thin dispatcher over mbmicro.commands.

Why the dispatcher catches UserError: every mistake a user can make must end
as one line naming the problem and the fix, with exit code 2 and no
traceback; genuine bugs still show their traceback.

Why it handles SIGINT and SIGTERM: an interrupted command (Ctrl-C, ``kill``,
``timeout``) must clean up after itself and say so in one line, ``mbmicro:
interrupted``, with the shell's exit code 128 + signal (130, 143).  Both
signals raise an exception (mbmicro.processes), so every ``finally`` runs;
any exception after a signal is its consequence (TVM turns one raised in a
Python callback into a RuntimeError) and ends the same way.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from mbmicro import __version__, progress
from mbmicro.commands import COMMANDS
from mbmicro.errors import UserError
from mbmicro.processes import interrupted_by, signal_handlers


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # self.prog is "mbmicro" for the top level and "mbmicro build" for a command
        sys.stderr.write(f"mbmicro: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def version_text() -> str:
    """``mbmicro --version``: the package and the TVM that generates its kernels.

    TVM's version is read from the installed distribution's metadata, not by
    importing tvm (which takes a second and is not needed to answer); the same
    text a build records in its provenance (mbmicro.codegen.provenance)."""
    from mbmicro.codegen.provenance import tvm_version

    tvm = tvm_version()
    return f"mbmicro {__version__} (Apache TVM {tvm if tvm != 'not installed' else 'not installed (pip install -e .)'})"


QUIET_HELP = "no progress bars (they only show when stderr is a terminal anyway)"


def add_quiet(parser: argparse.ArgumentParser, default) -> None:
    """``-q/--quiet``, accepted before the command and after it (mbmicro -q build ..., mbmicro build ... -q).

    A command's parser defaults to SUPPRESS, so it keeps what the top level set."""
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help=QUIET_HELP)


def _load(name: str):
    return importlib.import_module(f"mbmicro.commands.{COMMANDS[name]}")


def _command_from_argv(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only the chosen command's module is imported."""
    parser = _Parser(prog="mbmicro", description="int8 exporter for MBConv CNNs on ARM cores")
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the mbmicro and TVM versions and exit")
    add_quiet(parser, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, help="")
            continue
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        add_quiet(p, default=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with signal_handlers():
        try:
            return _dispatch(argv)
        except BaseException as exc:
            signum = interrupted_by()
            if signum is None and isinstance(exc, KeyboardInterrupt):
                signum = signal.SIGINT  # handlers not installed here (a worker thread)
            if signum is None:
                raise
            sys.stderr.write("mbmicro: interrupted\n")
            return 128 + signum


def _dispatch(argv: list[str]) -> int:
    command = _command_from_argv(argv)
    parser = make_parser(only=command)
    args = parser.parse_args(argv)
    progress.set_quiet(args.quiet)  # the one place --quiet is handled (mbmicro.progress)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_load(args.command).run(args) or 0)
    except UserError as exc:
        if interrupted_by() is not None:
            raise
        sys.stderr.write(f"mbmicro: error: {exc}\n")
        return 2
    except BrokenPipeError:
        # `mbmicro show ... | head`: the reader left; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
