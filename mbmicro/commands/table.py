"""One way to print a table, so that every command's columns line up alike.

Why two renderings: on a terminal a person reads the table, so it is drawn
with ``rich`` (header, rules, columns fitted to the window); anywhere else
(a pipe, a file, a test, a script) the output is parsed, so it stays plain
text whose format does not change: columns as wide as their widest cell, two
spaces apart, no trailing blanks, or a Markdown table where a command's
output is pasted into Markdown (``mbmicro tune``).

``align`` is one letter per column, ``l`` (the default for missing letters)
or ``r`` (numbers).
"""

from __future__ import annotations

import sys
from typing import Sequence


def _aligns(align: str, n: int) -> str:
    if set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r}: use only 'l' and 'r'")
    return (align + "l" * n)[:n]


def plain_lines(header: Sequence, rows: Sequence[Sequence], align: str = "") -> list[str]:
    """Columns as wide as their widest cell, two spaces apart, no trailing blanks."""
    aligns = _aligns(align, len(header))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return ["  ".join(str(x).rjust(w) if a == "r" else str(x).ljust(w)
                      for x, w, a in zip(line, widths, aligns)).rstrip()
            for line in [header, *rows]]


def markdown_lines(header: Sequence, rows: Sequence[Sequence], align: str = "") -> list[str]:
    """A GitHub Markdown table: ``| a | b |`` rows, ``---:`` under right-aligned columns."""
    aligns = _aligns(align, len(header))
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in aligns) + "|"

    def line(cells: Sequence) -> str:
        return "|" + "|".join(f" {x} " if str(x) else " " for x in cells) + "|"

    return [line(header), rule, *(line(row) for row in rows)]


def on_terminal(stream=None) -> bool:
    """True when ``stream`` (default stdout) is a terminal a person reads."""
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def print_table(header: Sequence, rows: Sequence[Sequence], align: str = "", *, title: str | None = None,
                markdown: bool = False) -> None:
    """Print a table to stdout: drawn by rich on a terminal, else plain (or Markdown) lines.

    ``title`` is printed above the table as its own line in plain mode (so scripts
    keep reading it where they did) and as the table's caption on a terminal."""
    if on_terminal():
        _print_rich(header, rows, _aligns(align, len(header)), title)
        return
    if title is not None:
        print(title)
    for line in (markdown_lines if markdown else plain_lines)(header, rows, align):
        print(line)


def _print_rich(header: Sequence, rows: Sequence[Sequence], aligns: str, title: str | None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text(...) cells: a model or file name with [brackets] is shown as it is, never read as markup
    table = Table(title=None if title is None else Text(title), title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, header_style="bold")
    for name, a in zip(header, aligns):
        table.add_column(Text(str(name)), justify="right" if a == "r" else "left")
    for row in rows:
        table.add_row(*(Text(str(x)) for x in row))
    Console(file=sys.stdout).print(table)
