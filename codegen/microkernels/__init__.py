"""C micro-kernel headers (``mbmicro_<family>.h``) that generated kernels call.

Why plain headers: a micro-kernel is hand-written C -- an intrinsics path
under the core's feature macro (``__ARM_FEATURE_DSP``, ``__ARM_FEATURE_MVE``,
``__ARM_NEON``) and a portable C99 twin in the ``#else`` -- so it lives in a
``.h`` file here, shipped as package data, not in a Python string.  A kernel
reaches one through a TensorIntrin (:mod:`mbmicro.codegen.microkernels.intrin`)
whose implementation is a ``call_extern`` to a ``static inline`` function of
the header; the kernel's source then ``#include``s the header, and the project
writer copies every header a build's kernels include into the build folder.

This module only knows files (no TVM import), so the project writer and the
host test harness can use it cheaply.
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

#: ``#include "mbmicro_x.h"`` lines of a kernel source (the headers of this folder).
_INCLUDE = re.compile(r'^\s*#\s*include\s*"(mbmicro_[A-Za-z0-9_]+\.h)"\s*$', re.M)


def folder() -> Path:
    """The folder holding the headers (an include path for host compiles)."""
    return Path(str(resources.files("mbmicro.codegen.microkernels")))


def header_names() -> list[str]:
    """Every micro-kernel header shipped, sorted."""
    return sorted(p.name for p in folder().glob("mbmicro_*.h"))


def header_path(name: str) -> Path:
    """Path of header ``name``; a name that is not shipped is a bug in an op template."""
    path = folder() / name
    if name not in header_names():
        raise ValueError(f"micro-kernel header {name!r} does not exist in {folder()}")
    return path


def include_lines(names) -> str:
    """The ``#include`` lines a kernel source puts after ``<stdint.h>``, sorted."""
    return "".join(f'#include "{header_path(n).name}"\n' for n in sorted(set(names)))


def headers_included(source: str) -> list[str]:
    """Micro-kernel headers a C source includes, sorted (each checked to exist)."""
    names = sorted(set(_INCLUDE.findall(source)))
    for name in names:
        header_path(name)
    return names


def copy_headers(names, dest: Path) -> list[str]:
    """Copy headers ``names`` into ``dest``; returns the file names written, sorted."""
    written = sorted(set(names))
    for name in written:
        shutil.copyfile(header_path(name), Path(dest) / name)
    return written
