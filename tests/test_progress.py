"""Progress bars (mbmicro.progress): on stderr, only when it is a terminal, never with --quiet.

The CLI runs as a child process: with pipes (what logs and CI see) stderr has no bar; with stderr on
a pseudo-terminal (python's ``pty``) the build shows its steps and the lowering bar, and verify its
per-input bar; ``--quiet`` turns them off (and parses before or after the command).  The model is a one-kernel
int8 .tflite on the host, so each child takes a few seconds.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from mbmicro import progress
from mbmicro.cli import make_parser

TFLITE = Path(__file__).resolve().parent / "data" / "tflite" / "conv_same.tflite"
BAR = "\r"  # tqdm redraws its line with carriage returns; nothing else mbmicro prints has one


def _cli(*args: str, pty_stderr: bool) -> tuple[str, str]:
    """Run ``python -m mbmicro ARGS``; stdout is a pipe, stderr a pipe or an 80x24 pseudo-terminal."""
    cmd = [sys.executable, "-m", "mbmicro", *args]
    if not pty_stderr:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal's last descriptor
                break
            if not data:
                break
            chunks.append(data)
        out = proc.stdout.read().decode()
        assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")
    os.close(master)
    return out, b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A build made with pipes: its stderr must hold no bar."""
    out = tmp_path_factory.mktemp("progress") / "b"
    stdout, stderr = _cli("build", "--model", str(TFLITE), "--target", "host", "-o", str(out), pty_stderr=False)
    assert stdout.startswith("built conv_same for host") and stderr == ""
    return out


def test_build_shows_its_steps_on_a_terminal(folder, tmp_path):
    stdout, term = _cli("build", "--model", str(TFLITE), "--target", "host", "-o", str(tmp_path / "b"),
                        pty_stderr=True)
    assert stdout.startswith("built conv_same for host")  # the result stays on stdout, without bars
    assert BAR not in stdout
    for step in ("importing", "lowering", "compiling"):
        assert step in term, term
    assert BAR in term and "layer" in term


def test_quiet_on_a_terminal_shows_nothing(folder, tmp_path):
    _, term = _cli("build", "--model", str(TFLITE), "--target", "host", "-o", str(tmp_path / "b"), "--quiet",
                   pty_stderr=True)
    assert term == ""


def test_verify_counts_inputs_on_a_terminal(folder):
    out, term = _cli("verify", str(folder), "--count", "2", pty_stderr=True)
    assert "verified 2/2" in out and BAR not in out
    assert "verifying" in term and "0/2" in term and "input" in term and BAR in term


def test_quiet_parses_before_and_after_the_command():
    parser = make_parser(only="verify")
    assert parser.parse_args(["verify", "d"]).quiet is False
    assert parser.parse_args(["-q", "verify", "d"]).quiet is True
    assert parser.parse_args(["verify", "d", "--quiet"]).quiet is True


def test_prints_during_a_bar_land_above_it(monkeypatch, capsys):
    """A warning printed while a bar shows gets a line of its own (the bar is redrawn below it)."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress.set_quiet(False)
    with progress.bar(2, desc="work") as b:
        sys.stderr.write("mbmicro: warning: something\n")
        b.update(2)
    err = capsys.readouterr().err
    # the bar's line is erased first (spaces, then a carriage return), the warning follows on it
    assert " \rmbmicro: warning: something\n\rwork:" in err, repr(err)
    progress.set_quiet(True)
    try:
        assert not progress.enabled()
    finally:
        progress.set_quiet(False)
