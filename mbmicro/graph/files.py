"""Reading files mbmicro did not write itself: a user's .npy, a build folder's JSON and arrays.

Why a module of its own: every such file may be empty, truncated, of another
format, a pipe that never ends, or carry a header that claims 100 GiB.
``numpy.load`` and ``json.loads`` trust what they read (they allocate what
the header says, recurse as deep as the brackets go, block on a FIFO), so
every loader of user or build-folder data goes through the checks here:

* only regular files are opened, and opening never blocks (O_NONBLOCK, then
  fstat on the open descriptor: no window for a swap between check and use);
* a .npy header is parsed on its own (numpy.lib.format) and its dtype and
  shape checked, and shape * itemsize must equal the data bytes left in the
  file and stay below a limit, before anything is allocated;
* JSON is size-limited and depth-limited.

It lives in graph/, the first stage, because quant/ (calibration images) and
graph/serialize.py (graph.npz) read .npy data too and may only import
earlier stages (docs/LAYOUT.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mbmicro.errors import UserError
from mbmicro.units import format_bytes

#: Largest array (data bytes) read from a file: far above any image batch or
#: model a microcontroller can hold, far below what would exhaust the host.
MAX_ARRAY_BYTES = 1 << 30

#: Largest JSON file read (a build folder's build.json / graph.json / report.json).
MAX_JSON_BYTES = 16 << 20

#: Deepest nesting accepted in JSON; our own files nest fewer than 10 levels.
MAX_JSON_DEPTH = 64

_NPY_VERSIONS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_ZIP_MAGIC = b"PK\x03\x04"


class FileFormatError(ValueError):
    """A file's content is not what its reader accepts; the text says why, in a few words."""


@contextlib.contextmanager
def open_regular(path: Path):
    """Open ``path`` for binary reading if it is a regular file; yield (file, size in bytes).

    FileNotFoundError / IsADirectoryError / PermissionError pass through as
    OSError; a FIFO, socket or device is a FileFormatError (O_NONBLOCK makes
    opening a FIFO return at once instead of waiting for a writer).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise FileFormatError("it is not a regular file (a pipe, socket or device?)")
        os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, info.st_size


def describe_os_error(exc: OSError) -> str:
    """A short reason for an OSError: 'does not exist', 'is a folder', or the system's words."""
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, IsADirectoryError):
        return "is a folder"
    return f"cannot be read ({exc.strerror or exc})"


# ------------------------------------------------------------------ .npy

def _npy_header(fp: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header at the start of ``fp``."""
    magic = fp.read(len(_ZIP_MAGIC))
    if not magic:
        raise FileFormatError("the file is empty")
    if magic == _ZIP_MAGIC:
        raise FileFormatError("it is a zip archive (.npz?), not a single array")
    fp.seek(-len(magic), os.SEEK_CUR)
    try:
        version = np.lib.format.read_magic(fp)
    except ValueError:
        raise FileFormatError("no .npy header") from None
    reader = _NPY_VERSIONS.get(version)
    if reader is None:
        raise FileFormatError(f".npy format version {version[0]}.{version[1]} is not supported")
    try:
        shape, fortran, dtype = reader(fp)
    except ValueError as exc:
        raise FileFormatError(f"broken .npy header: {str(exc).splitlines()[0]}") from None
    return shape, fortran, dtype


def read_npy(fp: BinaryIO, size: int, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """The numeric array in ``fp``, a seekable stream of ``size`` bytes holding one .npy.

    The header's dtype must be a plain number (bool, int, float, complex;
    no objects, records or strings), and shape * itemsize must equal the bytes
    after the header and be at most ``max_bytes``: checked before allocating.
    Big-endian data comes back in native byte order.
    """
    shape, fortran, dtype = _npy_header(fp)
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufc":
        raise FileFormatError(f"dtype {dtype} is not a plain number type")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise FileFormatError(f"its header claims shape {shape} of {dtype}, {format_bytes(nbytes)}, "
                              f"more than the limit of {format_bytes(max_bytes)}")
    left = size - fp.tell()
    if nbytes != left:
        raise FileFormatError(f"its header claims {nbytes:,} data bytes (shape {shape} of {dtype}) "
                              f"but the file holds {left:,}")
    buf = bytearray(nbytes)
    view, got = memoryview(buf), 0
    while got < nbytes:
        n = fp.readinto(view[got:])
        if not n:
            raise FileFormatError(f"the data ends after {got:,} of {format_bytes(nbytes)}")
        got += n
    arr = np.ndarray(shape, dtype=dtype, buffer=buf, order="F" if fortran else "C")
    return arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))


def load_npy(path: str | Path, what: str, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """One numeric array from the user's .npy file at ``path``; any problem is a one-line UserError.

    ``what`` names the file in messages ("input file", "calibration file").
    """
    path = Path(path)
    try:
        with open_regular(path) as (fp, size):
            return read_npy(fp, size, max_bytes)
    except OSError as exc:
        raise UserError(f"{what} {path} {describe_os_error(exc)}: pass an existing .npy file") from None
    except FileFormatError as exc:
        raise UserError(f"{what} {path} is not a readable .npy array ({exc}): "
                        "save one array with numpy.save") from None


# ------------------------------------------------------------------ JSON

def json_depth(value) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in children)
    return deepest


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """The parsed JSON file at ``path``, a regular file of at most ``max_bytes`` bytes.

    OSError passes through (the caller knows what a missing file means);
    anything else wrong is a FileFormatError.
    """
    with open_regular(path) as (fp, size):
        if size > max_bytes:
            raise FileFormatError(f"it is {format_bytes(size)}, more than the limit of {format_bytes(max_bytes)}")
        data = fp.read(max_bytes + 1)
    if not data.strip():
        raise FileFormatError("the file is empty")
    try:
        value = json.loads(data)
    except RecursionError:
        raise FileFormatError(f"JSON nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise FileFormatError(f"not valid JSON: {exc}") from None
    if json_depth(value) > max_depth:
        raise FileFormatError(f"JSON nested more than {max_depth} levels deep")
    return value
