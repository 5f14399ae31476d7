"""``mbmicro evaluate DIR --images FOLDER``: top-1 accuracy of a build on labelled images.

Why three models: a user who brings images wants to know what int8 costs. The
float model (rebuilt from build.json: a built-in model from its name and
options, an imported one from its recorded file if it is still the same
file), the int8 reference (graph.json) and the generated C on the target run
on the same preprocessed images (build.json "preprocess"); the report gives
each one's top-1, how often int8 and float agree on the top-1, and on how
many images the C output is bit-exact with the reference.

FOLDER has the ImageFolder layout: one subfolder per class, the sorted
subfolder names are the class indices 0, 1, ...
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from mbmicro import progress
from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.errors import UserError

HELP = "top-1 of the float model, the int8 reference and the C on labelled images (one subfolder per class)"

#: Most images one evaluate runs (each is a run of the program: in QEMU, a second or more).
MAX_LIMIT = 1_000_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build'")
    p.add_argument("--images", required=True, metavar="FOLDER",
                   help="one subfolder per class (sorted names = class indices 0, 1, ...), image files inside")
    p.add_argument("--limit", type=int, metavar="N",
                   help="evaluate at most N images, taken round-robin over the classes (default: all)")
    add_json_flag(p, "the result")


def select(classes: list[tuple[str, list[Path]]], limit: int | None) -> list[tuple[Path, int]]:
    """(image, class index) pairs: every class's first image, then every second one, ... so a
    --limit keeps the classes balanced; without a limit all images."""
    out: list[tuple[Path, int]] = []
    for rank in range(max(len(paths) for _, paths in classes)):
        out.extend((paths[rank], label) for label, (_, paths) in enumerate(classes) if rank < len(paths))
    return out if limit is None else out[:limit]


def sha256_of(path: Path) -> str | None:
    """SHA-256 of the regular file at ``path``, or None if it cannot be read."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def float_model(build: dict):
    """(float graph or None, how it was obtained or why not), from build.json."""
    from mbmicro.models.options import check_options
    from mbmicro.pipeline import float_graph_for

    source = build.get("source")
    if source is None:
        opts = build["options"]
        try:
            cfg = check_options(build["model"], opts["width"], opts["resolution"], opts["classes"], opts["seed"])
        except (KeyError, TypeError):
            return None, "build.json has no model options to rebuild the float model from"
        return float_graph_for(cfg), f"rebuilt {build['model']} from build.json's options"
    path = source.get("path") if isinstance(source, dict) else None
    if not isinstance(path, str):
        return None, "build.json does not record the model file's path (older build)"
    if not Path(path).is_file():
        return None, f"model file {path} is gone"
    if sha256_of(Path(path)) != source.get("sha256"):
        return None, f"model file {path} has changed since the build (SHA-256 differs)"
    if path.lower().endswith(".tflite"):
        return None, f"model file {path} is an int8 .tflite: it has no float model"
    return float_graph_for(check_options(path)), f"imported {path} (SHA-256 as at build time)"


def check_limit(limit: int | None) -> None:
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise UserError(f"--limit {limit} is invalid: pass 1 to {MAX_LIMIT:,}")


def run(args: argparse.Namespace) -> int:
    from mbmicro.graph.images import from_record, list_classes, load_image
    from mbmicro.reference.arith import quantize
    from mbmicro.reference.float32 import run_float
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build

    check_limit(args.limit)
    folder = load_build_folder(args.dir, need_graph=True)
    graph = folder.graph
    pre, crop = from_record(folder.build.get("preprocess"), f"{folder.path}/build.json")
    classes = list_classes(args.images)
    outputs = int(np.prod(folder.output.shape))
    if len(classes) > outputs:
        raise UserError(f"image folder {args.images} has {len(classes)} class subfolders but the model has "
                        f"{outputs} outputs: pass a folder with at most {outputs} classes")
    samples = select(classes, args.limit)
    fgraph, how = float_model(folder.build)
    if fgraph is not None and tuple(fgraph.input.shape) != tuple(graph.input.shape):
        fgraph, how = None, f"the float model's input {tuple(fgraph.input.shape)} is not the build's"
    if fgraph is None:
        sys.stderr.write(f"mbmicro: warning: {how}: evaluating the int8 reference and the C only\n")

    hits = {"float": 0, "int8": 0, "c": 0}
    agree = exact = 0
    with progress.bar(len(samples), desc="evaluating", unit="img") as bar:
        for path, label in samples:
            x = load_image(path, pre, crop)[None]
            xq = quantize(x, folder.input.scale, folder.input.zero_point)
            ref = run_int8(graph, xq)
            c, _ = run_build(folder, xq)
            top_ref = int(np.argmax(ref))
            hits["int8"] += top_ref == label
            hits["c"] += int(np.argmax(c)) == label
            exact += bool(np.array_equal(c, ref))
            if fgraph is not None:
                top_float = int(np.argmax(run_float(fgraph, x)))
                hits["float"] += top_float == label
                agree += top_float == top_ref
            bar.update(1)

    n = len(samples)
    result = {
        "build": str(folder.path), "images": n, "classes": [name for name, _ in classes],
        "preprocess": folder.build["preprocess"], "float_model": how if fgraph is not None else None,
        "float_model_missing": None if fgraph is not None else how,
        "top1": {"float": hits["float"] / n if fgraph is not None else None,
                 "int8": hits["int8"] / n, "c": hits["c"] / n},
        "correct": {"float": hits["float"] if fgraph is not None else None, "int8": hits["int8"], "c": hits["c"]},
        "int8_float_top1_agree": agree if fgraph is not None else None,
        "c_reference_bit_exact": exact,
    }
    if args.json:
        print_json(result)
    else:
        print_result(result)
    return 0


def print_result(r: dict) -> None:
    """The result as a small table (top-1 of each model) between a heading and two summary lines."""
    n = r["images"]
    rows = []
    for name, key in (("float", "float"), ("int8 reference", "int8"), ("C on target", "c")):
        top1 = r["top1"][key]
        rows.append([name, "-", "-"] if top1 is None else [name, f"{top1:.2%}", f"{r['correct'][key]}/{n}"])
    print(f"evaluated {n} images of {len(r['classes'])} classes on {r['build']}")
    print_table(["model", "top-1", "correct"], rows, "lrr")
    if r["top1"]["float"] is None:
        print(f"no float model: {r['float_model_missing']}")
    agree = r["int8_float_top1_agree"]
    print("int8 vs float top-1 agreement: " + ("-" if agree is None else f"{agree}/{n}"))
    print(f"C vs int8 reference bit-exact: {r['c_reference_bit_exact']}/{n}")
