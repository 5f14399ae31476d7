"""``mbmicro targets``: list the targets a model can be built for.

Why a table of budgets: choosing a target is mostly choosing how much SRAM (arena +
stack) and flash (code + weights) a model may use; the build checks against these.
"""

from __future__ import annotations

import argparse
import json

from mbmicro.commands.table import print_table
from mbmicro.targets.target import Target, core_names, load_target

HELP = "list the core targets (core, board, SRAM and flash budgets, simulator); boards: 'mbmicro boards'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def human_bytes(n: int) -> str:
    """1048576 -> '1 MiB', 262144 -> '256 KiB', 5767168 -> '5.5 MiB'."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


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
        print(json.dumps(table, indent=2))
        return 0
    header = ["name", "core", "board", "SRAM", "flash", "simulator"]
    lines = [[r["name"], r["core"], r["board"], human_bytes(int(r["sram_bytes"])),
              human_bytes(int(r["flash_bytes"])), r["simulator"]] for r in table]
    print_table(header, lines)
    return 0
