"""The one loader of a build folder for ``run``, ``verify`` and ``profile``.

Why a loader that checks everything: a build folder is data on disk that
anyone may have edited, truncated or swapped, and run/verify/profile build and
execute its code. So every file they read is validated here before use
(build.json against a schema, graph.json/graph.npz through
mbmicro.graph.serialize, report.json for profile), a broken file is one line
naming it and saying to rebuild, and the three commands agree on what a
valid folder is.

Why the executable is not read from build.json: the program that runs is the
one mbmicro's own Makefile rule names (codegen.project.executable_names of
the target), so a build.json saying ``"exe": "/bin/sh"`` or ``"../x"`` cannot
point run/verify/profile at any other program; build.json's names must
agree, and every path it holds must stay inside the folder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from mbmicro.codegen.project import BUILD_FORMAT, executable_names
from mbmicro.errors import UserError
from mbmicro.graph import files
from mbmicro.graph.ir import Graph
from mbmicro.graph.serialize import load_graph
from mbmicro.targets.target import Target, load_target, target_names

_REBUILD = "rebuild the folder with 'mbmicro build --force'"

#: Most layers a report.json may list (our largest model has about 150).
MAX_LAYERS = 100_000


class SchemaError(ValueError):
    """A JSON value does not match its schema; the text names the key path and what was expected."""


# ------------------------------------------------------------------ a small schema checker
#
# A schema is a Python type (str, int, float, dict, list), a dict of required keys
# to schemas (extra keys are allowed), a one-element list [schema] for a list of
# such items, or a function(value, where) that raises SchemaError.

def check(value, schema, where: str) -> None:
    """Raise SchemaError naming ``where`` (e.g. "input.shape") if ``value`` does not match ``schema``."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise SchemaError(f"{where or 'the file'} is {_kind(value)}, not an object")
        for key, sub in schema.items():
            path = f"{where}.{key}" if where else key
            if key not in value:
                raise SchemaError(f"key {path} is missing")
            check(value[key], sub, path)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            raise SchemaError(f"{where} is {_kind(value)}, not a list")
        for i, item in enumerate(value):
            check(item, schema[0], f"{where}[{i}]")
    elif isinstance(schema, type):
        if not _is(value, schema):
            raise SchemaError(f"{where} is {_kind(value)}, not {_NAMES[schema]}")
    else:
        schema(value, where)


_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list"}


def _is(value, kind: type) -> bool:
    if isinstance(value, bool):  # JSON true is not the number 1
        return False
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def _kind(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shape(value, where: str) -> None:
    """NHWC with batch 1 (docs: every activation tensor is (1, H, W, C)), within the array limit."""
    if (not isinstance(value, list) or len(value) != 4 or not all(_is(d, int) and d >= 1 for d in value)
            or value[0] != 1):
        raise SchemaError(f"{where} is {_kind(value)}, not [1, H, W, C] with positive integers")
    if math.prod(value) > files.MAX_ARRAY_BYTES:
        raise SchemaError(f"{where} {value} is larger than {files.MAX_ARRAY_BYTES:,} values")


def _scale(value, where: str) -> None:
    if not _is(value, float) or value <= 0:
        raise SchemaError(f"{where} is {_kind(value)}, not a positive number")


def _int8(value, where: str) -> None:
    if not _is(value, int) or not -128 <= value <= 127:
        raise SchemaError(f"{where} is {_kind(value)}, not an integer in [-128, 127]")


def _non_negative(value, where: str) -> None:
    if not _is(value, int) or value < 0:
        raise SchemaError(f"{where} is {_kind(value)}, not an integer >= 0")


def _layers(value, where: str) -> None:
    if isinstance(value, list) and len(value) > MAX_LAYERS:
        raise SchemaError(f"{where} lists {len(value):,} layers, more than {MAX_LAYERS:,}")
    check(value, [{"name": str, "macs": _non_negative}], where)


_TENSOR = {"tensor": str, "shape": _shape, "scale": _scale, "zero_point": _int8}
BUILD_SCHEMA = {
    "format": str, "model": str, "options": dict, "target": str, "prefix": str,
    "exe": {goal: str for goal in ("all", "trace", "profile")},
    "input": _TENSOR, "output": _TENSOR, "files": [str],
}
REPORT_SCHEMA = {"layers": _layers}


# ------------------------------------------------------------------ the folder

@dataclass(frozen=True)
class TensorInfo:
    """The model's input or output as build.json describes it (int8, NHWC)."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class BuildFolder:
    """A validated build folder: what run, verify and profile need from it."""

    path: Path                     #: absolute, symlinks resolved
    build: dict                    #: build.json, checked against BUILD_SCHEMA
    target: Target
    input: TensorInfo
    output: TensorInfo
    graph: Graph | None = None     #: with need_graph
    report: dict | None = None     #: report.json, with need_report

    @property
    def model(self) -> str:
        return self.build["model"]

    def exe(self, goal: str) -> Path:
        """The program ``make goal`` builds: the name mbmicro's Makefile rule gives it, in this folder."""
        return self.path / executable_names(self.target)[goal]

    def made_exe(self, goal: str) -> Path:
        """:meth:`exe`, after make: it must be a regular file inside the folder (not a symlink out)."""
        exe = self.exe(goal)
        real = exe.resolve()
        if not real.is_relative_to(self.path) or (exe.exists() and not real.is_file()):
            raise UserError(f"{exe} is not a program made in {self.path} (it leads to {real}): "
                            f"delete it or {_REBUILD}")
        return exe


def load_build_folder(folder: str | Path, need_graph: bool = False, need_report: bool = False) -> BuildFolder:
    """Read and validate ``folder`` (build.json; graph.json/graph.npz; report.json) or raise one UserError."""
    given = Path(folder)
    if not given.exists():
        raise UserError(f"build folder {given} does not exist: create it with 'mbmicro build ... -o {given}'")
    if not given.is_dir():
        raise UserError(f"{given} is not a folder: pass a build folder made by 'mbmicro build'")
    path = given.resolve()
    build = _read_build_json(given, path)
    target = load_target(build["target"])
    _check_paths(given, path, build, target)
    result = BuildFolder(path, build, target, _tensor_info(build["input"]), _tensor_info(build["output"]))
    if need_graph:
        graph = load_graph(given)
        _check_graph_matches(given, result, graph)
        result = dataclasses.replace(result, graph=graph)
    if need_report:
        report = _parse(path / "report.json", f"{given}/report.json")
        result = dataclasses.replace(result, report=_checked(report, REPORT_SCHEMA, f"{given}/report.json"))
    return result


def _parse(path: Path, what: str):
    """A build folder's JSON file, parsed; a missing or unreadable one names the file."""
    try:
        return files.read_json(path)
    except FileNotFoundError:
        raise UserError(f"{what} is missing: {_REBUILD}") from None
    except OSError as exc:
        raise UserError(f"{what} {files.describe_os_error(exc)}: {_REBUILD}") from None
    except files.FileFormatError as exc:
        raise UserError(f"{what} is broken ({exc}): {_REBUILD}") from None


def _checked(value, schema, what: str):
    try:
        check(value, schema, "")
    except SchemaError as exc:
        raise UserError(f"{what} is broken ({exc}): {_REBUILD}") from None
    return value


def _read_build_json(given: Path, path: Path) -> dict:
    """build.json: the format marker first (a folder that is not a build says so), then the schema."""
    if not ((path / "build.json").exists() or (path / "build.json").is_symlink()):
        raise UserError(f"{given} is not an mbmicro build (no build.json): "
                        f"create one with 'mbmicro build ... -o DIR'")
    what = f"{given}/build.json"
    build = _parse(path / "build.json", what)
    if not isinstance(build, dict) or build.get("format") != BUILD_FORMAT:
        raise UserError(f"{given} is not an mbmicro build ({what} is not an {BUILD_FORMAT} file): {_REBUILD}")
    _checked(build, BUILD_SCHEMA, what)
    if build["target"] not in target_names():
        raise UserError(f"{what} is broken (target {build['target']!r} is not one of "
                        f"{', '.join(target_names())}): {_REBUILD}")
    return build


def _check_paths(given: Path, path: Path, build: dict, target: Target) -> None:
    """Every path in build.json stays inside the folder, and "exe" names what the Makefile makes.

    The names themselves must not leave the folder (absolute, ``..``); the files
    listed must not lead out of it through a symlink either. The executables
    are checked for symlinks once make has run (BuildFolder.made_exe).
    """
    for where, name in [*((f"exe.{g}", build["exe"][g]) for g in build["exe"]),
                        *((f"files[{i}]", n) for i, n in enumerate(build["files"]))]:
        if not name or "\0" in name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise UserError(f"{given}/build.json is broken ({where} is {name!r}, outside the folder; "
                            f"mbmicro never runs or reads files outside it): {_REBUILD}")
    for name in build["files"]:
        real = (path / name).resolve()
        if not real.is_relative_to(path):
            raise UserError(f"{given}/{name} leads outside the folder (to {real}): delete it or {_REBUILD}")
    want = executable_names(target)
    for goal, name in want.items():
        if build["exe"][goal] != name:
            raise UserError(f"{given}/build.json is broken (exe.{goal} is {build['exe'][goal]!r}, but a "
                            f"{target.name} build's Makefile makes {name!r}): {_REBUILD}")


def _tensor_info(entry: dict) -> TensorInfo:
    return TensorInfo(entry["tensor"], tuple(entry["shape"]), float(entry["scale"]), int(entry["zero_point"]))


def _check_graph_matches(given: Path, folder: BuildFolder, graph: Graph) -> None:
    """build.json's input and output are the graph's (shape, int8, scale and zero point)."""
    for side, info, tensor in (("input", folder.input, graph.input), ("output", folder.output, graph.output)):
        mine = (tensor.name, tuple(tensor.shape), tensor.dtype, tensor.scale, tensor.zero_point)
        theirs = (info.name, info.shape, "int8", info.scale, info.zero_point)
        if mine != theirs:
            raise UserError(f"{given}/graph.json does not match build.json ({side} is {mine[:2]} {mine[2]} "
                            f"scale {mine[3]} zero point {mine[4]} in the graph, {theirs[:2]} int8 "
                            f"scale {theirs[3]} zero point {theirs[4]} in build.json): {_REBUILD}")
