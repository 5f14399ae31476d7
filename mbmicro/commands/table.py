"""One way to print a plain text table, so that every command's columns line up alike."""

from __future__ import annotations


def print_table(header: list[str], lines: list[list]) -> None:
    """Left-aligned columns as wide as their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    for line in [header, *lines]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
