"""``mbmicro reference``: run the int8 NumPy reference and the float model on
one image and print the top-5 classes of each.

Why: it is the quickest check that quantization kept the model's behaviour,
without building or simulating any C -- the int8 numbers printed here are
the ones the generated C must reproduce bit for bit.
"""

from __future__ import annotations

import argparse

import numpy as np

from mbmicro.commands.build import add_preprocess_options, calibration_source
from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.models.options import add_model_argument, add_model_options, config_from_args

HELP = "run the int8 reference and the float model on one image and compare their top-5 classes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    add_model_options(p)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE",
                        help="one image as .npy: (H,W,3) or (1,H,W,3), float in [-1,1] or uint8 "
                             "(default: a seeded random image)")
    source.add_argument("--image", metavar="IMAGE", help="one image file (JPEG, PNG, ...), made by --preprocess")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration images: a .npy float32 (N,H,W,3), or a folder of image files made by "
                        "--preprocess (default: seeded random images)")
    add_preprocess_options(p)
    add_json_flag(p, "both top-5 lists and their agreement")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    e = np.exp(z)
    return e / e.sum()


def top5(logits: np.ndarray) -> list[tuple[int, float]]:
    """(class, probability) of the five largest logits; ties by lower class id."""
    p = softmax(logits)
    order = np.lexsort((np.arange(len(p)), -p))[:5]
    return [(int(i), float(p[i])) for i in order]


def _describe(config, graph) -> str:
    """The model line: a built-in model's options, or the file a model came from."""
    if config.file is None:
        return (f"{config.model} (width {config.width:g}, resolution {config.resolution}, "
                f"classes {config.classes})")
    _, h, w, _ = graph.input.shape
    return f"{config.name} (from {config.file}, input {h}x{w}, classes {graph.output.shape[-1]})"


def run(args: argparse.Namespace) -> int:
    from mbmicro.errors import UserError
    from mbmicro.models.estimate import check_memory
    from mbmicro.reference.float32 import run_float
    from mbmicro.pipeline import dequantize_output, make_model, quantize_input, random_input
    from mbmicro.quant.ptq import load_images
    from mbmicro.reference.int8 import run_int8

    from mbmicro.graph.images import load_image, make_preprocess

    config = config_from_args(args)
    pre = make_preprocess(args.preprocess, args.resize)
    check_memory(config, quantize=True, calibration=args.calibration)  # before the slow, large part
    float_graph, int8_graph = make_model(config.model, config.width, config.resolution, config.classes,
                                         config.seed, calibration=calibration_source(args, pre))
    if float_graph is None:  # an int8 .tflite: nothing to compare the int8 output with
        raise UserError(f"model file {config.model} is an int8 .tflite and has no float graph to compare with; "
                        "use mbmicro build and verify")
    if args.image is not None:
        x, source = load_image(args.image, pre, tuple(float_graph.input.shape[1:3]))[None], args.image
    elif args.input is None:
        x, source = random_input(float_graph, config.seed), f"random image (seed {config.seed})"
    else:
        x, source = load_images(args.input, float_graph, what="input file"), args.input
        if x.shape[0] != 1:
            raise UserError(f"input file {args.input} holds {x.shape[0]} images; pass exactly one (H,W,3) image")
    y_float = run_float(float_graph, x).ravel()
    y_int8 = dequantize_output(int8_graph, run_int8(int8_graph, quantize_input(int8_graph, x))).ravel()

    q5, f5 = top5(y_int8), top5(y_float)
    cos = float(y_int8 @ y_float / (np.linalg.norm(y_int8) * np.linalg.norm(y_float) + 1e-30))
    overlap = len({c for c, _ in q5} & {c for c, _ in f5})
    model = _describe(config, float_graph)
    if args.json:
        print_json({"model": model, "input": source, "calibration": int8_graph.meta["calibration"],
                    "int8_top5": [{"class": c, "probability": p} for c, p in q5],
                    "float_top5": [{"class": c, "probability": p} for c, p in f5],
                    "top1_agrees": q5[0][0] == f5[0][0], "top5_overlap": overlap, "logit_cosine": cos})
        return 0
    print(f"{model}, input: {source}, calibration: {int8_graph.meta['calibration']}")
    print_table(["rank", "int8 class", "prob", "float class", "prob"],
                [[rank, qc, f"{qp:.4f}", fc, f"{fp:.4f}"]
                 for rank, ((qc, qp), (fc, fp)) in enumerate(zip(q5, f5), start=1)], "rrrrr")
    print(f"top-1 {'agrees' if q5[0][0] == f5[0][0] else 'differs'}, top-5 overlap {overlap}/{len(f5)}, "
          f"logit cosine {cos:.4f}")
    return 0
