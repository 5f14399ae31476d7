"""``mbmicro models``: list the Table A models and their main choices.

Why it reads only specs/model_details (no graph build): listing must be
instant and must not import NumPy-heavy or TVM code paths.
"""

from __future__ import annotations

import argparse

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.models.details import get_details
from mbmicro.models.specs import MODEL_NAMES, get_spec

HELP = "list the supported models (Table A) and their nonlinearities, SE and head"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json_flag(p, "the list")


def _summary(name: str) -> dict:
    spec, d = get_spec(name), get_details(name)
    blocks = [b for stage in spec["stages"] for b in stage if b["op"] == "mbconv"]
    acts = sorted({a for s in range(1, 8) for se in (False, True) for a in d.block_acts(s, se)})
    head = d.head_fc[0] if d.head_fc else d.head_conv
    return {
        "name": name,
        "title": d.title,
        "reference": d.reference,
        "stem": spec["stem"],
        "blocks": len(blocks),
        "se_blocks": sum(b["se"] for b in blocks),
        "activations": sorted({d.stem_act, *acts}),
        "head": head,
    }


def run(args: argparse.Namespace) -> int:
    rows = [_summary(name) for name in MODEL_NAMES]
    if args.json:
        print_json(rows)
        return 0
    header = ("MODEL", "PAPER", "STEM", "BLOCKS", "SE", "HEAD", "ACTIVATIONS")
    print_table(header, [(r["name"], f"{r['title']} ({r['reference']})", r["stem"], r["blocks"], r["se_blocks"],
                          r["head"], ",".join(r["activations"])) for r in rows])
    return 0
