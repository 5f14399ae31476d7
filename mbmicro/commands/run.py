"""``mbmicro run DIR --input in.npy --output out.npy``: run a build on one input;
``mbmicro run DIR --image photo.jpg``: on one image file, printing the top-5 classes.

Why float inputs are accepted: users hold images as float32; the build knows
its input scale and zero point, so quantization happens here with the same
rule as the reference (round half to even, saturate) instead of in every
caller's script.  An image file is made into the float input by the
preprocessing the build recorded (build.json "preprocess", mbmicro.graph.images).

Why the saturation warning: the input's int8 range comes from calibration; a
float input far outside it (e.g. 0..255 pixels for a [-1, 1] model) would be
clipped silently and the scores would be meaningless.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.errors import UserError

HELP = "run a build folder's program on one input (.npy, or an image file) and save or print its output"

#: Fraction of saturating input values above which run warns.
SATURATION_WARNING = 0.01


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build'")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="IN.npy",
                        help="float32 NHWC image (1,H,W,3) or (H,W,3), quantized here; or int8, taken as is")
    source.add_argument("--image", metavar="IMAGE",
                        help="an image file (JPEG, PNG, BMP, WebP, ...), preprocessed as the build recorded; "
                             "prints the top-5 classes")
    p.add_argument("--output", metavar="OUT.npy", help="where to save the output (required with --input, unless --json)")
    p.add_argument("--dequantize", action="store_true", help="save float32 scores instead of int8")
    add_json_flag(p, "the top-5 classes (and what was saved)")
    add_device_arguments(p)


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    """--on-device, --serial, --timeout: shared by run, verify and profile."""
    p.add_argument("--on-device", action="store_true",
                   help="run on the flashed board over its console instead of in the simulator "
                        "(flash first with 'mbmicro flash DIR')")
    p.add_argument("--serial", metavar="PORT",
                   help="the board's console with --on-device: a device (default /dev/ttyACM0) or a pyserial "
                        "URL such as socket://127.0.0.1:PORT (QEMU -serial tcp:...)")
    p.add_argument("--host", metavar="USER@HOST",
                   help="Raspberry Pi boards with --on-device: where 'mbmicro flash --host' copied the program")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for each reply from the board with --on-device (default 60)")


def check_device_arguments(args: argparse.Namespace) -> None:
    """--serial, --host and --timeout only mean something with --on-device; a timeout must be positive."""
    for name in ("serial", "host"):
        if not args.on_device and getattr(args, name) is not None:
            raise UserError(f"--{name} is for --on-device: add --on-device to run on the board, or drop --{name}")
    check_timeout(args.timeout)


def check_timeout(seconds: float) -> None:
    """A --timeout is a finite number of seconds > 0 (nan and inf would wait forever or never)."""
    if not 0 < seconds < float("inf"):
        raise UserError(f"--timeout {seconds:g} is invalid: pass a number of seconds > 0, e.g. 60")


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
    warn_saturation(x, folder.input.scale, folder.input.zero_point, f"input {path}")
    return quantize(x, folder.input.scale, folder.input.zero_point).reshape(shape)


def load_image_input(path: str, folder) -> np.ndarray:
    """The image file at ``path`` as the model's int8 input, made by the build's recorded preprocessing."""
    from mbmicro.graph.images import from_record, load_image
    from mbmicro.reference.arith import quantize

    pre, crop = from_record(folder.build.get("preprocess"), f"{folder.path}/build.json")
    shape = folder.input.shape
    if crop != tuple(shape[1:3]):
        raise UserError(f"{folder.path}/build.json is broken (preprocess crop {list(crop)} is not the model's "
                        f"input {list(shape[1:3])}): rebuild the folder with 'mbmicro build --force'")
    x = load_image(path, pre, crop)
    warn_saturation(x, folder.input.scale, folder.input.zero_point, f"image {path}")
    return quantize(x, folder.input.scale, folder.input.zero_point).reshape(shape)


def saturated_fraction(x: np.ndarray, scale: float, zero_point: int) -> float:
    """Fraction of ``x`` that int8 quantization with (scale, zero point) clips: beyond the
    representable range by more than half a step (closer ones round to the end values anyway)."""
    lo = (-128 - zero_point - 0.5) * scale
    hi = (127 - zero_point + 0.5) * scale
    return float(np.mean((x < lo) | (x > hi))) if x.size else 0.0


def warn_saturation(x: np.ndarray, scale: float, zero_point: int, what: str) -> None:
    """One warning line on stderr when more than SATURATION_WARNING of the float input saturates."""
    frac = saturated_fraction(x, scale, zero_point)
    if frac > SATURATION_WARNING:
        lo, hi = (-128 - zero_point) * scale, (127 - zero_point) * scale
        sys.stderr.write(f"mbmicro: warning: {what}: {frac:.1%} of the values (min {float(np.min(x)):.4g}, "
                         f"max {float(np.max(x)):.4g}) are outside the calibrated input range "
                         f"[{lo:.4g}, {hi:.4g}] and saturate; scale it as the model expects "
                         f"(0..255 pixels must be scaled, see build --preprocess) or rebuild with calibration "
                         f"images like it\n")


def top_k(scores: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` best (class, score) pairs, best first; ties go to the lower class index."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-flat, kind="stable")[:k]
    return [(int(i), float(flat[i])) for i in order]


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


def run_once(folder, x: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """The build's output for ``x``: from its program in the simulator, or from the board with --on-device."""
    if not args.on_device:
        from mbmicro.sim.execute import run_build

        return run_build(folder, x)[0]
    from mbmicro.sim import device

    with device.connect(folder, args.serial, args.timeout, args.host) as board:
        return device.run_on_device(board, folder, x)[0]


def run(args: argparse.Namespace) -> int:
    from mbmicro.reference.arith import dequantize
    from mbmicro.sim.build_folder import load_build_folder

    check_device_arguments(args)
    if args.input is not None and args.output is None and not args.json:
        raise UserError("--output OUT.npy is required with --input (or pass --json, or --image IMAGE, "
                        "to print the top-5)")
    folder = load_build_folder(args.dir)
    out = None if args.output is None else Path(args.output)
    if out is not None:
        check_output(out)
    x = load_input(args.input, folder) if args.input is not None else load_image_input(args.image, folder)
    y = run_once(folder, x, args)
    scores = dequantize(y, folder.output.scale, folder.output.zero_point)
    y_saved = None
    if out is not None:
        y_saved = scores if args.dequantize else y
        save_output(out, y_saved)
    if args.json:
        print_json({"build": str(folder.path), "input": args.input, "image": args.image,
                    "on_device": bool(args.on_device), "top_class": int(np.argmax(y)),
                    "top5": [{"class": c, "score": v} for c, v in top_k(scores)],
                    "saved": None if out is None else {"path": str(out), "dtype": str(y_saved.dtype),
                                                       "shape": list(y_saved.shape)}})
        return 0
    if out is not None:
        print(f"wrote {out}: {y_saved.dtype} {tuple(y_saved.shape)}, top class {int(np.argmax(y))}")
    if args.image is not None:
        print_table(["class", "score"], [[cls, f"{score:.4f}"] for cls, score in top_k(scores)], "rr",
                    title=f"top-5 of {args.image} (dequantized scores):")
    return 0
