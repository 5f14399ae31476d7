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
import math
import zipfile
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph import files
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.units import format_bytes

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
    """Inverse of :func:`_encode`; arrays must have a plain number dtype."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__array__" in value:
            dtype = np.dtype(value["dtype"])
            if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
                raise ValueError(f"array attribute of dtype {dtype} is not a plain number type")
            return np.array(value["__array__"], dtype=dtype)
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


#: Most dimensions of a tensor in a graph.json we load (ours have 4).
MAX_DIMS = 8
_DTYPES = ("int8", "float32")
_REBUILD = "rebuild the folder with 'mbmicro build --force'"


class _MissingArray(KeyError):
    """graph.json names a parameter that graph.npz does not hold."""


def load_graph(folder: Path) -> Graph:
    """Read a graph saved by :func:`save_graph`; anything missing, foreign or broken is a UserError.

    Why every failure is caught: the two files are data from disk that anyone
    may have edited or truncated, so whatever goes wrong while turning them
    into a Graph (a missing key, a wrong type, an unknown op, a corrupt zip)
    means the file is not what save_graph wrote; the message names the file.
    Sizes are bounded before anything is allocated (mbmicro.graph.files).
    """
    folder = Path(folder)
    doc = _read_doc(folder)
    arrays = _read_arrays(folder / "graph.npz")
    try:
        return _graph_from(doc, arrays)
    except _MissingArray as exc:
        raise UserError(f"{folder}/graph.npz is broken (no array {exc.args[0]}): {_REBUILD}") from None
    except Exception as exc:  # noqa: BLE001 -- see the docstring
        raise UserError(f"{folder}/graph.json is broken ({_why(exc)}): {_REBUILD}") from None


def _graph_from(doc: dict, arrays: dict[str, np.ndarray]) -> Graph:
    """The Graph that graph.json's ``doc`` and graph.npz's ``arrays`` describe, checked."""
    def param(key: str) -> np.ndarray:
        if key not in arrays:
            raise _MissingArray(key)
        return arrays[key]

    tensors = {t["name"]: _tensor(t) for t in doc["tensors"]}
    nodes = [Node(str(n["name"]), str(n["op"]), _names(n["inputs"]), _names(n["outputs"]), _decode(n["attrs"]),
                  {k: param(f"{i}/{k}") for k in _names(n["params"])})
             for i, n in enumerate(doc["nodes"])]
    graph = Graph(str(doc["name"]), tensors, nodes, _names(doc["inputs"]), _names(doc["outputs"]),
                  _decode(doc["meta"]))
    _check_structure(graph)
    return graph


def _why(exc: Exception) -> str:
    """One line for an exception: its first line, or its type when it has no text (KeyError: the key)."""
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}" if exc.args else "missing key"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _read_doc(folder: Path) -> dict:
    """graph.json, parsed with the size and depth limits of mbmicro.graph.files."""
    path = folder / "graph.json"
    try:
        doc = files.read_json(path)
    except OSError as exc:
        raise UserError(f"{path} {files.describe_os_error(exc)}: {_REBUILD}") from None
    except files.FileFormatError as exc:
        raise UserError(f"{path} is broken ({exc}): {_REBUILD}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"{path} is not an {FORMAT} file: {_REBUILD}")
    return doc


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of graph.npz, each read through mbmicro.graph.files.read_npy, in all at most
    files.MAX_ARRAY_BYTES (the sizes in the zip directory are checked before reading)."""
    arrays, total = {}, 0
    try:
        with files.open_regular(path) as (fp, _), zipfile.ZipFile(fp) as zf:
            for info in zf.infolist():
                total += info.file_size
                if not info.filename.endswith(".npy"):
                    raise files.FileFormatError(f"unexpected member {info.filename}")
                if total > files.MAX_ARRAY_BYTES:
                    raise files.FileFormatError(f"its arrays add up to more than {format_bytes(files.MAX_ARRAY_BYTES)}")
                with zf.open(info) as member:
                    arrays[info.filename.removesuffix(".npy")] = files.read_npy(member, info.file_size)
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise UserError(f"{path} {files.describe_os_error(exc)}: {_REBUILD}") from None
        raise UserError(f"{path} is broken ({_why(exc)}): {_REBUILD}") from None
    except Exception as exc:  # noqa: BLE001 -- a corrupt zip raises zipfile, zlib, EOF or format errors
        raise UserError(f"{path} is broken ({_why(exc)}): {_REBUILD}") from None
    return arrays


def _names(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of names, got {json.dumps(value)[:60]}")
    return list(value)


def _tensor(t: dict) -> Tensor:
    """A Tensor from its graph.json entry, with a bounded shape (no 10**12-element tensors)."""
    shape = t["shape"]
    if (not isinstance(shape, list) or not 1 <= len(shape) <= MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
        raise ValueError(f"tensor {t['name']} has shape {json.dumps(shape)[:60]}, "
                         f"not 1 to {MAX_DIMS} positive integers")
    if t["dtype"] not in _DTYPES:
        raise ValueError(f"tensor {t['name']} has dtype {t['dtype']!r}, not one of {', '.join(_DTYPES)}")
    nbytes = math.prod(shape) * np.dtype(t["dtype"]).itemsize
    if nbytes > files.MAX_ARRAY_BYTES:
        raise ValueError(f"tensor {t['name']} of shape {tuple(shape)} needs {format_bytes(nbytes)}, "
                         f"more than the limit of {files.MAX_ARRAY_BYTES:,}")
    scale, zp = t["scale"], t["zero_point"]
    if not (scale is None or isinstance(scale, (int, float)) and not isinstance(scale, bool)):
        raise TypeError(f"tensor {t['name']} has scale {scale!r}")
    if not (zp is None or isinstance(zp, int) and not isinstance(zp, bool)):
        raise TypeError(f"tensor {t['name']} has zero point {zp!r}")
    return Tensor(str(t["name"]), tuple(shape), t["dtype"], scale, zp)


def _check_structure(graph: Graph) -> None:
    """Every name a node or the graph uses is a tensor, there is an input and an output, and the
    order is topological (Graph.validate)."""
    if not graph.inputs or not graph.outputs:
        raise ValueError("the graph has no input or no output")
    for name in [*graph.inputs, *graph.outputs, *(t for n in graph.nodes for t in (*n.inputs, *n.outputs))]:
        if name not in graph.tensors:
            raise ValueError(f"tensor {name} is used but not listed in 'tensors'")
    graph.validate()
