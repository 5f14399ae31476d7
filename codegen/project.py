"""The build folder: what goes in it and how it appears on disk.

Why atomic: a build is written into a temporary folder next to DIR and
renamed into place only when complete, so an interrupted or failed build
never leaves a half-written DIR behind, and ``--force`` replaces an old
build only once the new one exists.  Only folders that carry our
``build.json`` marker are ever replaced, so a mistyped ``-o ~`` cannot
delete anything that is not an mbmicro build; the marker is the last file
written, so not even the staging folder looks like a build before it is one.

Why a lock: two builds into one DIR both pass the checks at their start;
the rename is checked again under a lock on ``.DIR.lock`` beside DIR, so
the second refuses instead of replacing the first (without ``--force``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

from mbmicro.targets import budgets
from mbmicro.codegen import firmware, link_script, microkernels, model_memory
from mbmicro import progress
from mbmicro.errors import UserError
from mbmicro.graph import files
from mbmicro.processes import deferred_interrupts
from mbmicro.targets.target import Target

BUILD_FORMAT = "mbmicro-build/1"
#: The model includes the hooks header (compiled to nothing unless a test variant turns them on);
#: the hooks' definitions and the test program belong to the build folder around model/.
MODEL_HOOKS = "mbmicro_hooks.h"
APP_RUNTIME_FILES = ("mbmicro_main.c", "mbmicro_hooks.c", "mbmicro_stack.c", "mbmicro_stack.h")
#: Every file of codegen/runtime that goes into a build.
RUNTIME_FILES = (*APP_RUNTIME_FILES, MODEL_HOOKS)
_COMPILED = (".c", ".S", ".s")


def _package_file(*parts: str) -> Path:
    return Path(str(resources.files("mbmicro.codegen").joinpath(*parts)))


def is_build(folder: Path) -> bool:
    """Whether ``folder`` carries our build.json marker (the only folders --force replaces).

    Read with mbmicro.graph.files.read_json: a build.json that is a FIFO or
    a huge file answers False at once instead of blocking or filling memory.
    The full check of a build folder is mbmicro.sim.build_folder.load_build_folder.
    """
    try:
        marker = files.read_json(Path(folder) / "build.json")
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("format") == BUILD_FORMAT


def executable_names(target: Target) -> dict[str, str]:
    """Makefile products: all/trace/profile executables (e.g. app, app_trace; app.elf, app_trace.elf)."""
    exe = str(target.extra.get("exe", "app"))
    stem, dot, suffix = exe.partition(".")
    return {"all": exe, "trace": f"{stem}_trace{dot}{suffix}", "profile": f"{stem}_profile{dot}{suffix}"}


def check_destination(out: Path, force: bool) -> None:
    """Refuse a DIR we must not (or cannot) write, before any expensive work."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UserError(f"{out} exists and is not a folder: choose another -o DIR")
        if not force:
            raise UserError(f"{out} already exists: pass --force to replace it, or choose another -o DIR")
        if any(out.iterdir()) and not is_build(out):
            raise UserError(f"{out} is not an mbmicro build, refusing to replace it even with --force: "
                            "choose another -o DIR")
    parent = _existing_ancestor(out.parent)
    try:  # a real probe: os.access says yes to root even on /proc or a read-only mount
        os.rmdir(tempfile.mkdtemp(prefix=".mbmicro-probe-", dir=parent))
    except OSError:
        raise UserError(f"cannot write {out}: {parent} is not a writable folder; choose another -o DIR") from None


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


@contextlib.contextmanager
def staging(out: Path, force: bool):
    """Yield a fresh temporary folder beside ``out``; on success it becomes ``out``.

    Parent folders are created as needed and removed again if the build fails
    or is interrupted (the signal arrives as an exception, mbmicro.processes).
    """
    out = Path(out).absolute()
    check_destination(out, force)
    created = []
    parent = out.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    tmp = None
    try:
        try:
            for folder in reversed(created):
                folder.mkdir()
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror or exc}; choose another -o DIR") from None
        yield tmp
        with deferred_interrupts():  # a signal now waits until the build is in place
            _publish(tmp, out, force)
            tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _publish(tmp: Path, out: Path, force: bool) -> None:
    """Rename ``tmp`` to ``out``, replacing an old build only after the new one is in place.

    Under the destination lock, ``out`` is checked again: another build may
    have created it since this one started.
    """
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    with destination_lock(out):
        if not force and (out.exists() or out.is_symlink()):
            raise UserError(f"{out} was created by another build meanwhile: pass --force to replace it, "
                            "or choose another -o DIR")
        if not out.exists():
            os.rename(tmp, out)
            return
        check_destination(out, force)  # still a folder we may replace
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / "build")
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def destination_lock(out: Path):
    """Hold an exclusive flock on ``.DIR.lock`` beside ``out``; the file is removed afterwards.

    The holder unlinks the file before unlocking it, so a waiter may end up
    holding a lock on a file no longer in the folder: it checks that the
    path still names its file, and otherwise locks the new one.
    """
    path = Path(out).parent / f".{Path(out).name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _names(path, fd):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` is the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


#: The build folder's subfolder that holds the model as a library (docs/MODEL_LIBRARY.md).
MODEL_DIR = "model"


def split_cflags(cflags) -> tuple[list[str], list[str]]:
    """(flags the model is compiled with, warning flags) of a target's cflags.

    Why split: model/model.mk hands a firmware the flags that decide the code
    (core, FPU, ABI, optimization, C standard); warnings (``-W...``, not
    ``-Wl,``/``-Wa,``/``-Wp,``) are the firmware's own choice, and only the
    test program keeps ours (-Werror).
    """
    warn = [f for f in cflags if f.startswith("-W") and not f.startswith(("-Wl,", "-Wa,", "-Wp,"))]
    return [f for f in cflags if f not in warn], warn


def model_sources(prefix: str) -> list[str]:
    """The model library's C files, in link order (names inside model/)."""
    return [f"{prefix}_model.c", f"{prefix}_kernels.c", f"{prefix}_weights.c"]


def _fill(template: str, values: dict[str, str]) -> str:
    text = _package_file("templates", template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if re.search(r"@[A-Z_]+@", text):
        raise ValueError(f"{template} has a placeholder the renderer does not fill")
    return text


def render_makefile(target: Target, prefix: str, sources: list[str], extra_deps: list[str]) -> str:
    """Makefile.in (plus Makefile.host.in on the host): the test program around model/model.mk.

    ``sources`` are the test program's own files (the model's come from model.mk).
    """
    names = executable_names(target)
    values = {
        "TARGET": target.name,
        "CC": target.cc,
        "CFLAGS": shlex.join(split_cflags(target.cflags)[1]),
        "LDFLAGS": shlex.join(target.ldflags),
        "APP_SRCS": " ".join(sources),
        "HOOKED": f"{prefix}_model.c mbmicro_hooks.c mbmicro_main.c",
        "EXTRA_DEPS": " ".join(extra_deps),
        "MODEL_OBJS": " ".join(model_memory.object_names(prefix)),
        "EXE": names["all"],
        "EXE_TRACE": names["trace"],
        "EXE_PROFILE": names["profile"],
    }
    text = _fill("Makefile.in", values)
    if target.is_host:
        text += _fill("Makefile.host.in", {})
    return text


def render_model_mk(program) -> str:
    """model/model.mk: the model's sources and flags, relative to the fragment's own folder."""
    p, m = program.prefix, program.macro
    return _fill("model.mk.in", {
        "MODEL": program.graph.name, "TARGET": program.target.name, "PREFIX": m,
        "SRCS": " ".join(f"$({m}_MODEL_DIR)/{n}" for n in model_sources(p)),
        "TARGET_CFLAGS": shlex.join(split_cflags(program.target.cflags)[0]),
    })


def render_model_cmake(program) -> str:
    """model/model.cmake: a static library ``<prefix>_model`` with this folder as include directory."""
    p, m = program.prefix, program.macro
    return _fill("model.cmake.in", {
        "MODEL": program.graph.name, "TARGET": program.target.name, "PREFIX": m,
        "LIB": f"{p}_model", "HEADER": f"{p}_model.h",
        "CMAKE_SRCS": "".join(f'    "${{CMAKE_CURRENT_LIST_DIR}}/{n}"\n' for n in model_sources(p)),
        "TARGET_CFLAGS": " ".join(_cmake_quote(f) for f in split_cflags(program.target.cflags)[0]),
    })


def _cmake_quote(flag: str) -> str:
    return flag if re.fullmatch(r"[A-Za-z0-9_.=+,/-]+", flag) else '"' + flag.replace('"', '\\"') + '"'


def write_model(folder: Path, program) -> list[str]:
    """Write the model as a library into ``folder``: generated C, hooks header, micro-kernel headers,
    model.mk and model.cmake, and nothing else; returns the file names, sorted."""
    from mbmicro.codegen import aot

    p = program.prefix
    files = {
        f"{p}_model.h": aot.render_model_h(program),
        f"{p}_model.c": aot.render_model_c(program),
        f"{p}_kernels.c": aot.render_kernels_c(program),
        f"{p}_weights.h": program.weights.render_h(),
        f"{p}_weights.c": program.weights.render_c(),
        "model.mk": render_model_mk(program),
        "model.cmake": render_model_cmake(program),
    }
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    shutil.copyfile(_package_file("runtime", MODEL_HOOKS), folder / MODEL_HOOKS)
    headers = microkernels.copy_headers(kernel_headers(program), folder)
    return sorted([*files, MODEL_HOOKS, *headers])


def write_files(folder: Path, program, extra: dict[str, str]) -> list[str]:
    """Write model/ (the library), the test program, the target's files and the Makefile.

    Returns the file names relative to ``folder`` (``model/...`` for the library's).
    """
    from mbmicro.codegen import aot

    model = [f"{MODEL_DIR}/{n}" for n in write_model(folder / MODEL_DIR, program)]
    files = {"mbmicro_app.h": aot.render_app_h(program), **extra}
    for name, text in files.items():
        (folder / name).write_text(text)
    for name in APP_RUNTIME_FILES:
        shutil.copyfile(_package_file("runtime", name), folder / name)
    target_files = [str(f) for f in program.target.extra.get("files", [])]
    for name in target_files:
        src = program.target.folder / name
        if not src.is_file():
            raise UserError(f"target {program.target.name} lists missing file {name}: fix its target.json")
        if src.suffix == ".ld":  # linker scripts carry the (possibly overridden) memory budgets
            (folder / src.name).write_text(link_script.render(src.read_text(), program.target))
        else:
            shutil.copyfile(src, folder / Path(name).name)
    local = [Path(n).name for n in target_files]
    sources = ["mbmicro_hooks.c", "mbmicro_main.c", "mbmicro_stack.c"]
    sources += [n for n in local if n.endswith(_COMPILED)]
    deps = [n for n in local if not n.endswith(_COMPILED)]
    (folder / "Makefile").write_text(render_makefile(program.target, program.prefix, sources, deps))
    return sorted([*model, *files, *APP_RUNTIME_FILES, *local, "Makefile"])


def kernel_headers(program) -> list[str]:
    """The micro-kernel headers (codegen/microkernels) the program's kernel sources include.

    Read from the sources themselves, so the copy matches what the compiler will look for.
    """
    from mbmicro.codegen.fused import HEADER as FUSED_HEADER

    names = {h for k in program.kernels for h in microkernels.headers_included(k.source)}
    return sorted(names | ({FUSED_HEADER} if program.regions else set()))


def build_project(graph, target: Target, out: Path, *, prefix: str, force: bool, info: dict,
                  lower=None, started: float | None = None, io_in_arena: bool = False,
                  knobs: dict | None = None, row_knobs=None, tuning=None, memory: str = "fast",
                  retry_memory: str | None = None,
                  options: dict | None = None) -> dict:
    """Lower, plan and write a complete build of the int8 ``graph`` to ``out``; returns the report.

    A model that does not fit ``target``'s SRAM/flash budgets (mbmicro.targets.budgets) is a
    UserError: arena and weights are checked before anything is written, code once
    it is compiled in the staging folder, which is then discarded.
    ``info`` (model name and options) goes into build.json; ``lower`` replaces
    codegen.kernels.lower_node (tests); ``io_in_arena`` (``--io-in-arena``) plans the
    input and output into the arena, so the SRAM need has no separate input/output buffers.
    The returned report has one field the written report.json lacks, ``build_time_s``:
    seconds since ``started`` (a perf_counter() value; default: the call), for the caller
    to print; kept out of the folder, it would make two identical builds differ.
    ``knobs``: knob settings per node name (a tuning log's, mbmicro.tune.apply); other
    nodes get the defaults; ``row_knobs(row_graph, node)``: the same for the row kernels of fused
    regions (mbmicro.tune.apply.RowKnobs; codegen.fused.lower_region). ``tuning``: a function of
    the fused layers' names (a frozenset) that gives build.json's ``tuning`` summary
    (mbmicro.tune.apply.summary), called once the fused regions are known, since they decide
    which kernel of a layer runs (callables, because tuning is a later stage than codegen:
    docs/LAYOUT.md).
    ``memory`` (``build --memory``, docs/MEMORY.md): which chains run as fused row regions;
    ``retry_memory``: the mode to lower again with (saying so on stderr) when the build does
    not fit the SRAM budget with ``memory``, before refusing.
    ``options``: the build's options for its provenance
    (mbmicro.codegen.provenance; the command line's, canonical), by default this call's own.
    """
    import time

    from mbmicro.graph import serialize as graph_io
    from mbmicro.codegen import aot, provenance, report

    started = time.perf_counter() if started is None else started
    check_destination(out, force)
    program = aot.lower_graph(graph, target, prefix, lower=lower, knobs=knobs, row_knobs=row_knobs,
                              io_in_arena=io_in_arena, memory=memory)
    x, y = graph.input, graph.output
    model = str(info.get("model", graph.name))
    if options is None:
        options = {"model": model, "target": target.name, "prefix": prefix, "io_in_arena": io_in_arena,
                   **info.get("options", {})}

    def need(objects=None) -> dict:
        io = 0 if io_in_arena else x.nbytes + y.nbytes
        if objects is None or not objects.measured:  # before compiling, or no compiler: what is known
            return budgets.requirements(target, program.plan.peak, io, program.weights.total_bytes, None)
        return budgets.requirements(target, program.plan.peak, io, objects.weights, objects.code,
                                    constants=objects.constants, static=objects.static_ram,
                                    model_stack=objects.stack.bytes)

    first = need()
    if retry_memory and retry_memory != memory and first["sram_needed_bytes"] > first["sram_budget_bytes"]:
        # does not fit as asked: fused row regions (--memory min) before refusing
        sys.stderr.write(f"mbmicro: note: {model} needs {first['sram_needed_bytes']:,} B SRAM with --memory "
                         f"{memory} but {first['sram_budget_bytes']:,} B are available: retrying with "
                         f"--memory {retry_memory} (fused row regions)\n")
        memory = retry_memory
        program = aot.lower_graph(graph, target, prefix, lower=lower, knobs=knobs, row_knobs=row_knobs,
                                  io_in_arena=io_in_arena, memory=memory)
    budgets.check(need(), target, model, code_missing="not yet compiled")  # arena and weights: before writing anything
    if tuning is not None:
        fused = frozenset(name for r in program.regions or () for name in r.nodes)
        info = dict(info, tuning=tuning(fused))
    prov = program.provenance = provenance.collect(graph, program.weights, target.cc, options)
    build = {
        "format": BUILD_FORMAT, **info, "target": target.name, "prefix": prefix, "io_in_arena": io_in_arena,
        "memory": memory,
        "exe": executable_names(target), "provenance": prov.as_dict(),
        "input": {"tensor": x.name, "shape": list(x.shape), "scale": float(x.scale),
                  "zero_point": int(x.zero_point)},
        "output": {"tensor": y.name, "shape": list(y.shape), "scale": float(y.scale),
                   "zero_point": int(y.zero_point)},
    }
    with staging(out, force) as tmp:
        files = write_files(tmp, program, {})
        if firmware.wants_firmware(target):  # OUT/firmware/: the program for the real board
            files += firmware.write_firmware(tmp, program, tuple(x.shape))
        provenance.stamp_files(tmp, files, prov)  # every generated file's header says what made it
        graph_io.save_graph(graph, tmp)
        build["files"] = sorted([*files, "graph.json", "graph.npz", "build.json", *report.BUILD_FILES])
        with progress.step("compiling"):  # make objects: the model's flash, static SRAM and stack
            objects = model_memory.measure(tmp, program)
        memory = need(objects)
        budgets.check(memory, target, model)  # refusing here discards the staging folder
        rep = dict(report.make_report(program, build, objects, memory), provenance=prov.as_dict())
        report.write_files(tmp, report.render_files(rep))
        # the marker last: a folder with a build.json is complete
        (tmp / "build.json").write_text(json.dumps(build, indent=1, sort_keys=True) + "\n")
    return {**rep, "build_time_s": round(time.perf_counter() - started, 3)}
