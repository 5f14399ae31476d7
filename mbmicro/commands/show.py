"""``mbmicro show MODEL``: the per-layer table of the float graph; with
``--json`` the same layers typed, plus a built-in model's Table A spec.

Why the JSON carries the unscaled spec too: it is the contract with Table A
(tests compare it with the table itself), while the layers are the graph
actually built for the given --width/--resolution/--classes.  Why without
weights: the table shows shapes, MACs and parameter counts only, so for a
built-in model it comes from the builder's weightless walk
(mbmicro.models.builder.structure_from_config) and is instant and small even
for a model far too large to build.  A model file has no Table A spec
(``"spec": null``); its layers are the imported graph.
"""

from __future__ import annotations

import argparse

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.models.options import add_model_argument, add_model_options, config_from_args
from mbmicro.models.specs import get_spec

HELP = "show a model's layers (shapes, MACs, params); with --json also its Table A spec"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    add_model_options(p)
    add_json_flag(p, "the layers (with totals, and a built-in model's Table A spec)")


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


HEADER = ("NAME", "OP", "INPUT", "OUTPUT", "KERNEL", "MACS", "PARAMS")
ALIGN = "lllllrr"


def layer_rows(graph) -> list[dict]:
    """One dict per node: what the table shows, typed (the --json "layers")."""
    from mbmicro.graph.ir import macs, param_count

    rows = []
    for node in graph.nodes:
        conv = node.op in ("conv2d", "depthwise")
        act = node.attrs["func"] if node.op == "act" else node.attrs.get("act", "none")
        rows.append({"name": node.name, "op": node.op, "activation": None if act == "none" else act,
                     "input": list(graph.tensors[node.inputs[0]].shape),
                     "output": list(graph.tensors[node.outputs[0]].shape),
                     "kernel": list(node.attrs["kernel"]) if conv else None,
                     "stride": node.attrs["stride"] if conv else None,
                     "groups": node.attrs.get("groups", 1) if conv else None,
                     "macs": macs(graph, node), "params": param_count(node)})
    return rows


def _cells(graph) -> list[tuple]:
    """The table's rows, TOTAL last."""
    rows = layer_rows(graph)
    out = [(node.name, _op(node), _shape(graph.tensors[node.inputs[0]].shape),
            _shape(graph.tensors[node.outputs[0]].shape), _kernel(node), f"{r['macs']:,}", f"{r['params']:,}")
           for node, r in zip(graph.nodes, rows)]
    total_macs, total_params = (sum(r[k] for r in rows) for k in ("macs", "params"))
    return out + [("TOTAL", "", "", "", "", f"{total_macs:,}", f"{total_params:,}")]


def layer_table(graph) -> list[str]:
    """Lines of the per-layer table with totals, as printed when stdout is not a terminal."""
    from mbmicro.commands.table import plain_lines

    return plain_lines(HEADER, _cells(graph), ALIGN)


def document(cfg, graph) -> dict:
    """``show --json``: the layer table typed, with the model's options (built-in) or source (file),
    and a built-in model's Table A spec (width 1.0, unscaled)."""
    layers = layer_rows(graph)
    builtin = cfg.file is None
    return {"model": graph.name,
            "options": {"width": cfg.width, "resolution": cfg.resolution, "classes": cfg.classes,
                        "seed": cfg.seed} if builtin else None,
            "source": None if builtin else {"file": str(cfg.file), "sha256": graph.meta["source"]["sha256"]},
            "input": list(graph.input.shape), "output": list(graph.output.shape),
            "layers": layers,
            "total": {"macs": sum(r["macs"] for r in layers), "params": sum(r["params"] for r in layers)},
            "spec": get_spec(cfg.model) if builtin else None}


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.table import print_table

    cfg = config_from_args(args)
    if cfg.file is None:
        from mbmicro.models.builder import structure_from_config

        graph = structure_from_config(cfg)  # the table needs shapes only: no weights, any size is instant
        title = (f"{graph.name}: width {cfg.width:g}, input {_shape(graph.input.shape)}, "
                 f"{cfg.classes} classes, seed {cfg.seed}")
    else:
        from mbmicro.pipeline import float_graph_for

        graph = float_graph_for(cfg)
        title = (f"{graph.name}: imported from {cfg.file} (sha256 {graph.meta['source']['sha256'][:16]}...), "
                 f"input {_shape(graph.input.shape)}, output {_shape(graph.output.shape)}")
    if args.json:
        print_json(document(cfg, graph))
        return 0
    print_table(HEADER, _cells(graph), ALIGN, title=title)
    return 0
