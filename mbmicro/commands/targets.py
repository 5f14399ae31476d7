"""``mbmicro targets``: list the targets a model can be built for.

Why a table of budgets: choosing a target is mostly choosing how much SRAM (arena +
stack) and flash (code + weights) a model may use; the build checks against these.
"""

from __future__ import annotations

import argparse

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.targets.target import Target, core_names, load_target
from mbmicro.units import format_size

HELP = "list the core targets (core, board, SRAM and flash budgets, simulator); boards: 'mbmicro boards'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser, "the list")


def simulator_text(target: Target) -> str:
    """The simulator and the machine/CPU it emulates, e.g. 'qemu-system-arm -M mps2-an386'."""
    sim = target.simulator
    if sim.get("kind") == "native":
        return "none (runs natively)"
    args = list(sim.get("args", []))
    chosen = [f"{flag} {args[i + 1]}" for i, flag in enumerate(args[:-1]) if flag in ("-M", "-cpu")]
    return " ".join([sim["binary"], *chosen])


def rows() -> list[dict[str, str | int]]:
    out = []
    for name in core_names():
        t = load_target(name)
        out.append({"name": t.name, "core": t.extra.get("core", "host CPU"), "board": t.board_name,
                    "sram_bytes": t.sram_bytes, "flash_bytes": t.flash_bytes,
                    "simulator": simulator_text(t)})
    return out


def run(args: argparse.Namespace) -> int:
    table = rows()
    if args.json:
        print_json(table)
        return 0
    header = ["name", "core", "board", "SRAM", "flash", "simulator"]
    lines = [[r["name"], r["core"], r["board"], format_size(int(r["sram_bytes"])),
              format_size(int(r["flash_bytes"])), r["simulator"]] for r in table]
    print_table(header, lines)
    return 0
