"""``mbmicro run DIR --input in.npy --output out.npy``: run a build on one image.

Why float inputs are accepted: users hold images as float32; the build knows
its input scale and zero point, so quantization happens here with the same
rule as the reference (round half to even, saturate) instead of in every
caller's script.
"""

from __future__ import annotations

import argparse
import os
import tempfile
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


def load_input(path: str, folder) -> np.ndarray:
    """The .npy at ``path`` as the model's int8 input (``folder``: a BuildFolder); wrong shape or
    dtype is a UserError. Read through mbmicro.graph.files.load_npy: an empty file, an .npz, a
    pipe or a header claiming gigabytes is refused before anything is allocated."""
    from mbmicro.graph.files import load_npy
    from mbmicro.reference.arith import quantize

    x = load_npy(path, "input file")
    shape = folder.input.shape
    if tuple(x.shape) not in (shape, shape[1:]):
        raise UserError(f"input {path} has shape {tuple(x.shape)}, the model wants {shape} or {shape[1:]} (NHWC)")
    if x.dtype == np.int8:
        return x.reshape(shape)
    if x.dtype not in (np.float32, np.float64):
        raise UserError(f"input {path} is {x.dtype}: pass float32 (quantized here) or int8 (used as is)")
    if not np.isfinite(x).all():
        raise UserError(f"input {path} contains NaN or infinity: pass finite pixel values")
    return quantize(x, folder.input.scale, folder.input.zero_point).reshape(shape)


def check_output(out: Path) -> None:
    """Refuse an --output we could not write as a file, before running anything."""
    if out.is_dir():
        raise UserError(f"--output {out} is a folder: pass a file name, e.g. {out / 'output.npy'}")
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.exists() and not out.is_file():
        raise UserError(f"--output {out} exists and is not a regular file: pass another file name")


def save_output(out: Path, y: np.ndarray) -> None:
    """np.save to exactly ``out`` (saving to an open file adds no .npy suffix), through a
    temporary file in the same folder renamed into place: a failed write leaves nothing behind."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, y)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
        raise


def _umask() -> int:
    """The process umask, for the mode np.save(path) would have given (mkstemp makes 0600);
    os.umask can only be read by setting it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def run(args: argparse.Namespace) -> int:
    from mbmicro.reference.arith import dequantize
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build

    folder = load_build_folder(args.dir)
    x = load_input(args.input, folder)
    out = Path(args.output)
    check_output(out)
    y, _ = run_build(folder, x)
    if args.dequantize:
        y = dequantize(y, folder.output.scale, folder.output.zero_point)
    save_output(out, y)
    print(f"wrote {out}: {y.dtype} {tuple(y.shape)}, top class {int(np.argmax(y))}")
    return 0
