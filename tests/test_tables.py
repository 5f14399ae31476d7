"""The one table helper (mbmicro/commands/table.py): plain text that scripts parse stays exactly as it
was, Markdown for ``tune``, and rich only when stdout is a terminal."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from mbmicro.commands import table
from mbmicro.commands.table import markdown_lines, plain_lines, print_table

HEADER = ["name", "n", "note"]
ROWS = [["a", 1, "x"], ["long-name", "12,345", ""], ["[bold]b[/bold]", 7, "y z"]]


def test_plain_lines_are_aligned_without_trailing_blanks():
    assert plain_lines(HEADER, ROWS, "lr") == [
        "name                 n  note",
        "a                    1  x",
        "long-name       12,345",
        "[bold]b[/bold]       7  y z",
    ]


def test_markdown_lines():
    assert markdown_lines(HEADER, ROWS, "lr") == [
        "| name | n | note |", "|---|---:|---|", "| a | 1 | x |", "| long-name | 12,345 | |",
        "| [bold]b[/bold] | 7 | y z |"]


def test_bad_alignment_is_a_bug_not_output():
    with pytest.raises(ValueError):
        plain_lines(HEADER, ROWS, "lx")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_when_stdout_is_not_a_terminal(capsys):
    print_table(HEADER, ROWS, "lr", title="three rows")
    assert capsys.readouterr().out.splitlines() == ["three rows", *plain_lines(HEADER, ROWS, "lr")]


def test_rich_on_a_terminal_shows_cells_as_they_are(monkeypatch):
    screen = _Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setenv("COLUMNS", "100")
    print_table(HEADER, ROWS, "lr", title="three rows")
    text = screen.getvalue()
    assert table.on_terminal(screen) and not table.on_terminal(io.StringIO())
    assert "three rows" in text and "long-name" in text and "12,345" in text
    assert "[bold]b[/bold]" in text  # a cell is text, never rich markup
    assert "─" in text  # drawn by rich: the rule under the header
    assert text != "\n".join(["three rows", *plain_lines(HEADER, ROWS, "lr")]) + "\n"


@pytest.mark.parametrize("command, first", [
    (["models"], "MODEL  "), (["targets"], "name  "), (["boards"], "name  "),
    (["show", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10"], "mobilenetv2: width 0.35"),
])
def test_commands_print_plain_tables_to_a_pipe(command, first):
    """Through a pipe the output is the plain table (no box characters, no colour codes)."""
    r = subprocess.run([sys.executable, "-m", "mbmicro", *command], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(first) and "─" not in r.stdout and "\x1b" not in r.stdout
    assert all(line == line.rstrip() for line in r.stdout.splitlines())


def tune_results():
    """Two kernels' results as the tuner returns them: one tuned, one never measured successfully."""
    from types import SimpleNamespace

    from mbmicro.tune.tuner import KernelResult

    return [KernelResult(SimpleNamespace(key="pw_c16_k32", layers=["a", "b"], calls=2, rows=False),
                         default={"instructions": 12000, "cycles": 15000, "knobs": {"micro": "none"}},
                         best={"instructions": 9000, "cycles": 11000, "knobs": {"micro": "dsp", "tile": 4}},
                         trials=16, errors=2),
            KernelResult(SimpleNamespace(key="gap", layers=["d"], calls=1, rows=False), trials=3, errors=3)]


def test_tune_table_is_the_markdown_it_was(capsys):
    """benchmarks/tune.py pastes this into results/tune/*.md and reads the '**model total**' row back."""
    from mbmicro.commands.tune import print_tune_table, summary

    print_tune_table(summary(tune_results(), model="m", target="cortex-m4", log="t.jsonl", interrupted=False))
    assert capsys.readouterr().out.splitlines() == [
        "| kernel | layers | default instr | tuned instr | default est. cycles | tuned est. cycles | trials (errors) "
        "| tuned knobs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        "| pw_c16_k32 | 2 | 12,000 | 9,000 | 15,000 | 11,000 | 16 (2) | micro=dsp, tile=4 |",
        "| gap | 1 | - | - | - | - | 3 (3) | - |",
        "| **model total** | 3 | 24,000 | 18,000 (0.750x) | 30,000 | 22,000 | 19 | |"]


PROFILE = {"target": "cortex-m4", "exe": "app_profile.elf", "layers": [
    {"name": "stem", "instructions": 12345, "macs": 1000, "instructions_per_mac": 12.345, "estimated_cycles": 15000},
    {"name": "gap", "instructions": 77, "macs": 0, "instructions_per_mac": None, "estimated_cycles": 80}],
    "total": {"instructions": 12422, "macs": 1000, "instructions_per_mac": 12.422, "estimated_cycles": 15080},
    "program_instructions": 20000, "cycles_table": "targets/cortex-m4/cycles.json"}


def test_profile_table_is_the_text_it_was(capsys):
    from mbmicro.commands.profile import print_profile_table

    print_profile_table(PROFILE)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        "cortex-m4: app_profile.elf, executed instructions per layer (QEMU, all-zero input)",
        "#  layer           instructions   MACs  instr/MAC  est. cycles*",
        "0  stem                  12,345  1,000      12.35        15,000",
        "1  gap                       77      0          -            80",
        "   total (layers)        12,422  1,000      12.42        15,080"]
    assert lines[5] == "whole program (start-up, file I/O, layers): 20,000 instructions"
    assert lines[6].startswith("model stack: not painted")
    assert lines[7].startswith("* est. cycles: an ESTIMATE") and len(lines) == 8
