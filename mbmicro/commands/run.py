"""``mbmicro run DIR --input in.npy --output out.npy``: run a build on one image.

Why float inputs are accepted: users hold images as float32; the build knows
its input scale and zero point, so quantization happens here with the same
rule as the reference (round half to even, saturate) instead of in every
caller's script.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError

HELP = "run a build folder's program on one input (.npy) and save its output (.npy)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build'")
    p.add_argument("--input", required=True, metavar="IN.npy",
                   help="float32 NHWC image (1,H,W,3) or (H,W,3), quantized here; or int8, taken as is")
    p.add_argument("--output", required=True, metavar="OUT.npy", help="where to save the output")
    p.add_argument("--dequantize", action="store_true", help="save float32 scores instead of int8")


def load_input(path: str, build: dict) -> np.ndarray:
    """The .npy at ``path`` as the model's int8 input; wrong shape or dtype is a UserError."""
    from mbmicro.reference.arith import quantize

    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read input {path} ({exc}): pass a .npy file saved with numpy.save") from None
    shape = tuple(build["input"]["shape"])
    if tuple(x.shape) not in (shape, shape[1:]):
        raise UserError(f"input {path} has shape {tuple(x.shape)}, the model wants {shape} or {shape[1:]} (NHWC)")
    if x.dtype == np.int8:
        return x.reshape(shape)
    if x.dtype not in (np.float32, np.float64):
        raise UserError(f"input {path} is {x.dtype}: pass float32 (quantized here) or int8 (used as is)")
    if not np.isfinite(x).all():
        raise UserError(f"input {path} contains NaN or infinity: pass finite pixel values")
    return quantize(x, build["input"]["scale"], build["input"]["zero_point"]).reshape(shape)


def run(args: argparse.Namespace) -> int:
    from mbmicro.codegen.project import load_build
    from mbmicro.reference.arith import dequantize
    from mbmicro.sim.execute import run_build
    from mbmicro.targets.target import load_target

    folder = Path(args.dir)
    build = load_build(folder)
    x = load_input(args.input, build)
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist")
    y, _ = run_build(folder, build, load_target(build["target"]), x)
    if args.dequantize:
        y = dequantize(y, build["output"]["scale"], build["output"]["zero_point"])
    try:
        np.save(out, y)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {out}: {y.dtype} {tuple(y.shape)}, top class {int(np.argmax(y))}")
    return 0
