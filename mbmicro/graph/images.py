"""Image files -> the float input a model expects: reading, preprocessing, folders.

Why here (the graph stage, beside files.py) and not in formats/: the
quantizer (quant/, an earlier stage than formats/) calibrates on a folder of
the user's images, so the reader and the preprocessing must come before it.

Why the preprocessing is a recorded value: a model is trained on images made
one way (resize, crop, normalize); calibration, ``run --image`` and
``evaluate`` must make them the same way, or the int8 ranges and the
accuracy are those of another input.  A build records its
:class:`Preprocess` in build.json and every later command reads it back.

The steps are torchvision's ImageNet evaluation transform: convert to RGB,
resize the shorter side to ``resize`` pixels (bilinear, Pillow), center crop
to the model's input, then scale the 0..255 pixels:

* ``tf``: ``x / 127.5 - 1`` (TF/Keras MobileNet style, range [-1, 1]);
  the default, since the built-in random-weight models take [-1, 1];
* ``imagenet``: ``(x / 255 - mean) / std`` with torchvision's ImageNet mean
  and std (for models trained with torchvision);
* ``unit``: ``x / 255`` (range [0, 1]).

Pillow is imported only when an image is read, so commands that never read
one do not pay for it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbmicro.errors import UserError
from mbmicro.graph import files
from mbmicro.units import format_bytes

#: The scalings (mode -> (mean, std) applied to x / 255; "tf" is computed as x / 127.5 - 1).
MODES = {
    "tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
DEFAULT_MODE = "tf"

#: File name endings read as images (case-insensitive); other files in a folder are skipped.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

#: Largest image file read (bytes) and largest decoded image (pixels): a photo is far below both;
#: a "decompression bomb" (a small file claiming a huge image) is refused before it is decoded.
MAX_IMAGE_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 64_000_000

#: Most images a calibration folder contributes (the first ones in sorted path order); more add
#: little to min/max ranges and cost memory (1000 at 224x224 are 600 MB of float32).
MAX_CALIBRATION_IMAGES = 1000

#: Largest --resize: 4x the largest resolution a model may have.
MAX_RESIZE = 4096


def default_resize(crop: int) -> int:
    """torchvision's ratio: resize the shorter side to crop * 256 / 224 (256 for a 224 crop)."""
    return int(round(crop * 256 / 224))


@dataclass(frozen=True)
class Preprocess:
    """How an image file becomes the float input: a scaling mode and the shorter side to resize to
    (None: :func:`default_resize` of the crop). The crop is always the model's input size."""

    mode: str = DEFAULT_MODE
    resize: int | None = None

    def resolved(self, crop: tuple[int, int]) -> "Preprocess":
        """This preprocessing with ``resize`` filled in for a model whose input is ``crop`` (H, W)."""
        resize = default_resize(max(crop)) if self.resize is None else self.resize
        if resize < max(crop):
            raise UserError(f"--resize {resize} is smaller than the model's input {crop[0]}x{crop[1]}: "
                            f"pass --resize {max(crop)} or more (default {default_resize(max(crop))})")
        return Preprocess(self.mode, resize)

    def record(self, crop: tuple[int, int]) -> dict:
        """The build.json "preprocess" entry for a model whose input is ``crop`` (H, W)."""
        mean, std = MODES[self.mode]
        return {"mode": self.mode, "resize": self.resolved(crop).resize, "crop": list(crop),
                "mean": list(mean), "std": list(std)}


def make_preprocess(mode: str | None, resize: int | None) -> Preprocess:
    """Check the user's --preprocess and --resize (the crop is checked once the model is known)."""
    mode = DEFAULT_MODE if mode is None else mode
    if mode not in MODES:
        raise UserError(f"--preprocess {mode!r} is not one of {', '.join(MODES)}")
    if resize is not None and not 1 <= resize <= MAX_RESIZE:
        raise UserError(f"--resize {resize} is out of range: pass 1..{MAX_RESIZE} pixels (the shorter side)")
    return Preprocess(mode, resize)


def from_record(entry, where: str) -> tuple[Preprocess, tuple[int, int]]:
    """A build.json "preprocess" entry back as (Preprocess, crop); a broken one is a UserError."""
    ok = (isinstance(entry, dict) and entry.get("mode") in MODES
          and isinstance(entry.get("resize"), int) and not isinstance(entry.get("resize"), bool)
          and 1 <= entry["resize"] <= MAX_RESIZE
          and isinstance(entry.get("crop"), list) and len(entry["crop"]) == 2
          and all(isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= entry["resize"]
                  for c in entry["crop"]))
    if not ok:
        raise UserError(f"{where} has no valid \"preprocess\" entry (older mbmicro, or edited): "
                        "rebuild the folder with 'mbmicro build --force'")
    return Preprocess(entry["mode"], entry["resize"]), (entry["crop"][0], entry["crop"][1])


# ------------------------------------------------------------------ one image

def read_image(path: str | Path):
    """The image file at ``path`` decoded as an RGB Pillow image; anything wrong is one UserError.

    Only regular files are read (files.open_regular), at most MAX_IMAGE_BYTES of them and
    MAX_IMAGE_PIXELS decoded; alpha is dropped and grey or palette images become RGB
    (Pillow's convert("RGB"), as torchvision's ImageFolder does).
    """
    from PIL import Image

    path = Path(path)
    try:
        with files.open_regular(path) as (fp, size):
            if size > MAX_IMAGE_BYTES:
                raise files.FileFormatError(f"it is {format_bytes(size)}, more than the limit of {format_bytes(MAX_IMAGE_BYTES)}")
            with Image.open(fp) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise files.FileFormatError(f"it is {w}x{h} pixels, more than the limit of "
                                                f"{MAX_IMAGE_PIXELS:,}")
                img.load()
                return img.convert("RGB")
    except files.FileFormatError as exc:
        raise UserError(f"image {path} cannot be used ({exc}): pass a JPEG, PNG, BMP or WebP file") from None
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise UserError(f"image {path} {files.describe_os_error(exc)}: pass an existing image file") from None
        raise UserError(f"image {path} is not a readable image ({_reason(exc)}): "
                        "pass a JPEG, PNG, BMP or WebP file, or delete it") from None
    except (ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UserError(f"image {path} is not a readable image ({_reason(exc)}): "
                        "pass a JPEG, PNG, BMP or WebP file, or delete it") from None


def _reason(exc: BaseException) -> str:
    """Pillow's message on one line, without the file name it sometimes repeats."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def resize_and_crop(img, resize: int, crop: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3): the shorter side resized to ``resize`` (bilinear), then the center ``crop``.

    Sizes and offsets follow torchvision's Resize(int) and CenterCrop: the longer side
    becomes int(resize * long / short), the crop starts at round((size - crop) / 2).
    """
    from PIL import Image

    w, h = img.size
    if w <= h:
        size = (resize, max(1, int(resize * h / w)))
    else:
        size = (max(1, int(resize * w / h)), resize)
    ch, cw = crop
    if size[0] < cw or size[1] < ch:
        raise UserError(f"--resize {resize} makes a {size[0]}x{size[1]} image, smaller than the "
                        f"{cw}x{ch} crop: pass a larger --resize")
    img = img.resize(size, Image.BILINEAR)
    top = int(round((size[1] - ch) / 2.0))
    left = int(round((size[0] - cw) / 2.0))
    return np.asarray(img.crop((left, top, left + cw, top + ch)), dtype=np.uint8)


def scale_pixels(pixels: np.ndarray, mode: str) -> np.ndarray:
    """uint8 pixels -> float32 by the mode (module docstring); "tf" is exactly quant.ptq's
    mapping of a uint8 .npy, so a folder and the same pixels as .npy calibrate alike."""
    x = pixels.astype(np.float32)
    if mode == "tf":
        return x / np.float32(127.5) - np.float32(1.0)
    mean, std = (np.asarray(v, dtype=np.float32) for v in MODES[mode])
    return ((x / np.float32(255.0) - mean) / std).astype(np.float32)


def load_image(path: str | Path, pre: Preprocess, crop: tuple[int, int]) -> np.ndarray:
    """One image file as the model's float32 input (H, W, 3) (``pre`` resolved for ``crop``)."""
    pre = pre.resolved(crop)
    return scale_pixels(resize_and_crop(read_image(path), pre.resize, crop), pre.mode)


# ------------------------------------------------------------------ folders

def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def walk_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` at any depth, sorted by path (symlinked folders not followed,
    so a link loop cannot make the walk endless)."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        found.extend(Path(root) / n for n in names)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def check_folder(folder: str | Path, what: str) -> Path:
    """``folder`` as a Path if it is an existing folder, else one UserError."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{what} {folder} does not exist: pass a folder of images")
    if not folder.is_dir():
        raise UserError(f"{what} {folder} is not a folder: pass a folder of images")
    return folder


def list_images(folder: str | Path, what: str, warn: bool = True) -> list[Path]:
    """The image files under ``folder`` (any depth, sorted). Files with another ending are skipped
    (with ``warn``, said in one warning line); a folder with no image at all is a UserError."""
    folder = check_folder(folder, what)
    every = walk_files(folder)
    images = [p for p in every if is_image_name(p)]
    others = [p for p in every if not is_image_name(p)]
    if not images:
        raise UserError(f"{what} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
                        "put image files in it, in subfolders or not")
    if others and warn:
        sys.stderr.write(f"mbmicro: warning: {what} {folder}: skipped {len(others)} file(s) that are not "
                         f"{'/'.join(IMAGE_SUFFIXES)} images (e.g. {others[0].relative_to(folder)})\n")
    return images


def load_image_folder(folder: str | Path, pre: Preprocess, crop: tuple[int, int],
                      what: str = "calibration folder", limit: int = MAX_CALIBRATION_IMAGES) -> np.ndarray:
    """The first ``limit`` images under ``folder`` (sorted by path) preprocessed: float32 (N, H, W, 3).
    Using fewer than the folder holds is said in one warning line."""
    images = list_images(folder, what)
    if len(images) > limit:
        sys.stderr.write(f"mbmicro: warning: {what} {folder} holds {len(images):,} images; "
                         f"using the first {limit:,} in sorted path order\n")
        images = images[:limit]
    pre = pre.resolved(crop)
    out = np.empty((len(images), crop[0], crop[1], 3), dtype=np.float32)
    for i, path in enumerate(images):
        out[i] = load_image(path, pre, crop)
    return out


def list_classes(folder: str | Path, what: str = "image folder") -> list[tuple[str, list[Path]]]:
    """An ImageFolder layout: (class name, its images) per subfolder, sorted by name (the class
    index is the position). A folder with no subfolder, or a class with no image, is a UserError."""
    folder = check_folder(folder, what)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    if not classes:
        raise UserError(f"{what} {folder} has no class subfolders: put each class's images in "
                        f"{folder}/CLASS_NAME/ (sorted names are class indices 0, 1, ...)")
    return [(name, list_images(folder / name, "class folder")) for name in classes]


@dataclass(frozen=True)
class CalibrationFolder:
    """A --calibration folder with the preprocessing to apply (the crop comes from the model):
    what commands hand to quant.ptq.quantize_graph instead of a .npy path."""

    path: str
    preprocess: Preprocess = Preprocess()


def describe_record(entry: dict) -> str:
    """A build.json "preprocess" entry in words, for report.md and the CLI."""
    scaling = {"tf": "x/127.5 - 1 (range [-1, 1])", "unit": "x/255 (range [0, 1])",
               "imagenet": "(x/255 - mean) / std, mean {mean}, std {std}"}[entry["mode"]]
    crop = entry["crop"]
    return (f"{entry['mode']}: RGB, shorter side resized to {entry['resize']} (bilinear), center crop "
            f"{crop[0]}x{crop[1]}, " + scaling.format(mean=entry["mean"], std=entry["std"]))
