"""``mbmicro show MODEL``: the per-layer table of the float graph, or with
``--json`` the model's Table A spec.

Why the JSON is the unscaled spec: it is the contract with Table A (tests
compare it with the table itself); the layer table shows the graph actually
built for the given --width/--resolution/--classes.  Why without weights: the
table shows shapes, MACs and parameter counts only, so for a built-in model it
comes from the builder's weightless walk
(mbmicro.models.builder.structure_from_config) and is instant and small even
for a model far too large to build.  A model file has no Table A spec, so
``--json`` is refused for it; its table is the imported graph.
"""

from __future__ import annotations

import argparse
import json

from mbmicro.errors import UserError
from mbmicro.models.options import add_model_argument, add_model_options, config_from_args
from mbmicro.models.specs import get_spec

HELP = "show a model's layers (shapes, MACs, params) or, with --json, its Table A spec"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    add_model_options(p)
    p.add_argument("--json", action="store_true",
                   help="print the Table A spec (width 1.0, unscaled) as JSON")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape[1:])


def _kernel(node) -> str:
    if node.op in ("conv2d", "depthwise"):
        kh, kw = node.attrs["kernel"]
        text = f"{kh}x{kw}/{node.attrs['stride']}"
        if node.attrs.get("groups", 1) > 1:
            text += f" g{node.attrs['groups']}"
        return text
    return "-"


def _op(node) -> str:
    if node.op == "act":
        return f"act:{node.attrs['func']}"
    act = node.attrs.get("act", "none")
    return node.op if act == "none" else f"{node.op}+{act}"


def layer_table(graph) -> list[str]:
    """Lines of the per-layer table with totals (also used by other commands)."""
    from mbmicro.graph.ir import macs, param_count

    header = ("NAME", "OP", "INPUT", "OUTPUT", "KERNEL", "MACS", "PARAMS")
    rows = [header]
    total_macs = total_params = 0
    for node in graph.nodes:
        m, p = macs(graph, node), param_count(node)
        total_macs += m
        total_params += p
        rows.append((node.name, _op(node), _shape(graph.tensors[node.inputs[0]].shape),
                     _shape(graph.tensors[node.outputs[0]].shape), _kernel(node), f"{m:,}", f"{p:,}"))
    rows.append(("TOTAL", "", "", "", "", f"{total_macs:,}", f"{total_params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    numeric = {5, 6}
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.json:
        if cfg.file is not None:
            raise UserError(f"--json prints a built-in model's Table A spec; {cfg.file} has none: drop --json")
        print(json.dumps(get_spec(cfg.model), indent=2))
        return 0
    if cfg.file is None:
        from mbmicro.models.builder import structure_from_config

        graph = structure_from_config(cfg)  # the table needs shapes only: no weights, any size is instant
        print(f"{graph.name}: width {cfg.width:g}, input {_shape(graph.input.shape)}, "
              f"{cfg.classes} classes, seed {cfg.seed}")
    else:
        from mbmicro.pipeline import float_graph_for

        graph = float_graph_for(cfg)
        print(f"{graph.name}: imported from {cfg.file} (sha256 {graph.meta['source']['sha256'][:16]}...), "
              f"input {_shape(graph.input.shape)}, output {_shape(graph.output.shape)}")
    for line in layer_table(graph):
        print(line)
    return 0
