"""``mbmicro boards``: list the boards a model can be built and flashed for.

Why a list beside ``mbmicro targets``: a core says how code is compiled; a
board adds where it goes (memory map, console UART, debug probe) and whether
QEMU models it, which decides how ``verify`` runs a build for it (the board's
own QEMU machine, else its core's with the board's budgets; docs/BOARDS.md).
"""

from __future__ import annotations

import argparse

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.targets.target import Target, board_names, load_target
from mbmicro.units import format_size

HELP = "list the boards (core, MCU, flash/SRAM, probe, QEMU machine) for --target BOARD"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser, "the list")


def probe_text(target: Target) -> str:
    """How the board is programmed: 'openocd' / 'pyocd' when it has a probe, 'ssh' for Linux boards."""
    board = target.board
    if board.deploy == "linux-ssh":
        return "ssh"
    return "/".join(k for k in ("openocd", "pyocd") if (board.probe or {}).get(k)) or "-"


def rows() -> list[dict]:
    out = []
    for name in board_names():
        t = load_target(name)
        b = t.board
        out.append({"name": t.name, "core": t.core, "mcu": b.mcu, "title": b.title,
                    "flash_bytes": t.flash_bytes, "sram_bytes": t.sram_bytes, "probe": probe_text(t),
                    "qemu_machine": b.qemu_machine, "deploy": b.deploy})
    return out


def run(args: argparse.Namespace) -> int:
    table = rows()
    if args.json:
        print_json(table)
        return 0
    header = ["name", "core", "MCU", "flash", "SRAM", "probe", "QEMU"]
    lines = [[r["name"], r["core"], r["mcu"], format_size(r["flash_bytes"]), format_size(r["sram_bytes"]),
              r["probe"], r["qemu_machine"] or "-"] for r in table]
    print_table(header, lines)
    return 0
