"""The user's model options (model, width, resolution, classes, seed): the
shared command-line flags and the one place they are checked.

Why one place: every command that builds a model (show, export-onnx,
reference, build, ...) takes the same flags and must reject the same
mistakes with the same one-line UserError.

MODEL is a built-in name or a path to an .onnx file (anything ending in
``.onnx`` or holding a path separator is a path).  A file brings its own
weights and shapes, so --width/--resolution/--classes/--seed, which shape
and seed the built-in models, are refused with a non-default value rather
than silently ignored: a user who passes --resolution 96 with a 224 px file
would otherwise get a model that is not the one asked for.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.models.specs import MODEL_NAMES, check_model_name

MIN_RESOLUTION, MAX_RESOLUTION = 32, 1024
MAX_WIDTH = 4.0
#: Why a ceiling: the classifier's weights grow with the class count (10**7
#: classes at width 1 are 12.8 G parameters: a 95 GiB allocation before any
#: other check could run); 100,000 is well above image-classification label
#: sets (ImageNet-21k has 21,841).
MAX_CLASSES = 100_000

#: The defaults of the flags of :func:`add_model_options` (a model file takes no other value).
OPTION_DEFAULTS = {"width": 1.0, "resolution": 224, "classes": 1000, "seed": 0}


@dataclass(frozen=True)
class ModelConfig:
    """Checked model options (mbmicro.models.builder.build_from_config makes the float graph)."""

    model: str
    width: float = 1.0
    resolution: int = 224
    classes: int = 1000
    seed: int = 0
    #: the path of a model file (``model`` is then that path too), else None
    file: str | None = None

    @property
    def name(self) -> str:
        """The model's name: a built-in name, or a model file's name (prefix, messages, build.json)."""
        return self.model if self.file is None else file_model_name(self.file)


def file_model_name(path: str | Path) -> str:
    """A model file's stem with the characters C comments and file names dislike replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem) or "model"


def is_model_file(model: str) -> bool:
    """Whether MODEL is a path to a model file rather than a built-in name."""
    text = str(model)
    return text.lower().endswith((".onnx", ".tflite")) or "/" in text or os.sep in text


def check_model_file(path: str, width: float = 1.0, resolution: int = 224, classes: int = 1000,
                     seed: int = 0) -> ModelConfig:
    """A model file must exist, and the built-in models' options must keep their defaults."""
    if not Path(path).is_file():
        problem = "is not a file" if Path(path).exists() else "does not exist"
        raise UserError(f"model file {path} {problem}: pass an .onnx file or a built-in model name "
                        "(see 'mbmicro models')")
    given = {"width": width, "resolution": resolution, "classes": classes, "seed": seed}
    for flag, value in given.items():
        if value != OPTION_DEFAULTS[flag]:
            raise UserError(f"--{flag} applies to built-in models only: {path} brings its own weights and "
                            f"shapes; drop --{flag} {value:g}")
    return ModelConfig(str(path), file=str(path))


def check_options(model: str, width: float = 1.0, resolution: int = 224, classes: int = 1000,
                  seed: int = 0) -> ModelConfig:
    """Validate the options; every mistake is a one-line UserError."""
    if is_model_file(model):
        return check_model_file(model, width, resolution, classes, seed)
    name = check_model_name(model)
    try:
        width_f = float(width)
    except (TypeError, ValueError):
        raise UserError(f"width {width!r} is not a number: pass e.g. --width 0.5") from None
    if not (math.isfinite(width_f) and 0 < width_f <= MAX_WIDTH):
        raise UserError(f"width {width} is out of range: pass --width in (0, {MAX_WIDTH:g}], e.g. 0.35, 0.5, 1.0")
    if isinstance(resolution, bool) or int(resolution) != resolution:
        raise UserError(f"resolution {resolution!r} is not an integer: pass e.g. --resolution 96")
    if not MIN_RESOLUTION <= int(resolution) <= MAX_RESOLUTION:
        raise UserError(f"resolution {resolution} is out of range: pass --resolution between "
                        f"{MIN_RESOLUTION} and {MAX_RESOLUTION}, e.g. 96 or 224")
    if isinstance(classes, bool) or int(classes) != classes or int(classes) < 1:
        raise UserError(f"classes {classes} is invalid: pass --classes 1 or more, e.g. 10 or 1000")
    if int(classes) > MAX_CLASSES:
        raise UserError(f"classes {classes} is out of range: pass --classes between 1 and {MAX_CLASSES:,}, "
                        f"e.g. 10 or 1000")
    if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
        raise UserError(f"seed {seed} is invalid: pass --seed 0 or a larger integer")
    return ModelConfig(name, width_f, int(resolution), int(classes), int(seed))


MODEL_HELP = f"one of: {', '.join(MODEL_NAMES)}; or a path to a float or QDQ .onnx file (docs/ONNX_IMPORT.md) or a full-integer int8 .tflite (docs/TFLITE_IMPORT.md)"


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """The positional MODEL argument (checked later, so the error lists the names)."""
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--width/--resolution/--classes/--seed, for every command that builds a model."""
    parser.add_argument("--width", type=float, default=1.0,
                        help="width multiplier (0, 4]; 1.0 uses Table A's channels exactly (default 1.0)")
    parser.add_argument("--resolution", type=int, default=224,
                        help=f"input height = width in pixels, {MIN_RESOLUTION}..{MAX_RESOLUTION} (default 224)")
    parser.add_argument("--classes", type=int, default=1000,
                        help=f"classifier outputs, 1..{MAX_CLASSES:,} (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed, >= 0 (default 0)")


def check_calibration_file(path: str | None) -> None:
    """Fail fast, before the slow model build, on a --calibration file or folder that is not there
    (its contents are checked when it is loaded: mbmicro.quant.ptq.load_images)."""
    if path is not None and not (Path(path).is_file() or Path(path).is_dir()):
        raise UserError(f"calibration file {path} does not exist: pass a .npy of images or a folder of image files")


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    """Check ``args.model`` and the options added by :func:`add_model_options`."""
    return check_options(args.model, args.width, args.resolution, args.classes, args.seed)
