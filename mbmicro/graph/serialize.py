"""Save and load a Graph as ``graph.json`` (structure) + ``graph.npz`` (arrays).

Why: a build folder must be self-contained, so ``mbmicro run`` / ``verify``
compare the generated C against the exact int8 graph it was made from
without rebuilding or recalibrating the model (slow, and any change in the
builder would silently change the oracle).

Both files are byte-for-byte deterministic: JSON with sorted keys, and an
npz written with fixed zip timestamps (numpy's own ``savez`` stamps the
current time), so two builds of the same model are identical.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, Node, Tensor

FORMAT = "mbmicro-graph/1"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _encode(value):
    """JSON-safe form of attrs/meta values; tuples and arrays are tagged to round-trip."""
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a {type(value).__name__} in graph.json")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__array__" in value:
            return np.array(value["__array__"], dtype=np.dtype(value["dtype"]))
        return {k: _decode(v) for k, v in value.items()}
    return value


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def save_graph(graph: Graph, folder: Path) -> None:
    """Write ``folder/graph.json`` and ``folder/graph.npz``."""
    folder = Path(folder)
    arrays = {}
    nodes = []
    for i, n in enumerate(graph.nodes):
        for key, arr in n.params.items():
            arrays[f"{i}/{key}"] = np.asarray(arr)
        nodes.append({"name": n.name, "op": n.op, "inputs": list(n.inputs), "outputs": list(n.outputs),
                      "attrs": _encode(dict(n.attrs)), "params": sorted(n.params)})
    doc = {
        "format": FORMAT,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "meta": _encode(dict(graph.meta)),
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "scale": t.scale,
                     "zero_point": t.zero_point} for t in graph.tensors.values()],
        "nodes": nodes,
    }
    (folder / "graph.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    _write_npz(folder / "graph.npz", arrays)


def load_graph(folder: Path) -> Graph:
    """Read a graph saved by :func:`save_graph`; a missing or foreign file is a UserError."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / "graph.json").read_text())
        arrays = np.load(folder / "graph.npz", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the graph of build {folder} ({exc}); rebuild it with 'mbmicro build'") from None
    if doc.get("format") != FORMAT:
        raise UserError(f"{folder}/graph.json is not an {FORMAT} file; rebuild it with 'mbmicro build'")
    with arrays:
        tensors = {t["name"]: Tensor(t["name"], tuple(t["shape"]), t["dtype"], t["scale"], t["zero_point"])
                   for t in doc["tensors"]}
        nodes = [Node(n["name"], n["op"], list(n["inputs"]), list(n["outputs"]), _decode(n["attrs"]),
                      {k: arrays[f"{i}/{k}"] for k in n["params"]})
                 for i, n in enumerate(doc["nodes"])]
    graph = Graph(doc["name"], tensors, nodes, list(doc["inputs"]), list(doc["outputs"]), _decode(doc["meta"]))
    graph.validate()
    return graph
