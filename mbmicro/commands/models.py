"""``mbmicro models``: list the Table A models and their main choices.

Why it reads only specs/model_details (no graph build): listing must be
instant and must not import NumPy-heavy or TVM code paths.
"""

from __future__ import annotations

import argparse
import json

from mbmicro.models.details import get_details
from mbmicro.models.specs import MODEL_NAMES, get_spec

HELP = "list the supported models (Table A) and their nonlinearities, SE and head"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


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
        print(json.dumps(rows, indent=2))
        return 0
    header = ("MODEL", "PAPER", "STEM", "BLOCKS", "SE", "HEAD", "ACTIVATIONS")
    table = [header] + [
        (r["name"], f"{r['title']} ({r['reference']})", str(r["stem"]), str(r["blocks"]),
         str(r["se_blocks"]), str(r["head"]), ",".join(r["activations"]))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0
