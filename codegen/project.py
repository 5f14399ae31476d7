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
import tempfile
from importlib import resources
from pathlib import Path

from mbmicro.targets import budgets
from mbmicro.codegen import firmware, link_script, microkernels
from mbmicro.errors import UserError
from mbmicro.graph import files
from mbmicro.processes import deferred_interrupts
from mbmicro.targets.target import Target

BUILD_FORMAT = "mbmicro-build/1"
RUNTIME_FILES = ("mbmicro_main.c", "mbmicro_hooks.c", "mbmicro_hooks.h")
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


def render_makefile(target: Target, prefix: str, sources: list[str], extra_deps: list[str]) -> str:
    """Makefile.in (plus Makefile.host.in on the host) with the target's compiler and flags."""
    names = executable_names(target)
    values = {
        "TARGET": target.name,
        "CC": target.cc,
        "CFLAGS": shlex.join(target.cflags),
        "LDFLAGS": shlex.join(target.ldflags),
        "SRCS": " ".join(sources),
        "HOOKED": f"{prefix}_model.c mbmicro_hooks.c mbmicro_main.c",
        "EXTRA_DEPS": " ".join(extra_deps),
        "MODEL_OBJS": f"{prefix}_model.o {prefix}_kernels.o",
        "EXE": names["all"],
        "EXE_TRACE": names["trace"],
        "EXE_PROFILE": names["profile"],
    }
    text = _package_file("templates", "Makefile.in").read_text()
    if target.is_host:
        text += _package_file("templates", "Makefile.host.in").read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if re.search(r"@[A-Z_]+@", text):
        raise ValueError("Makefile template has a placeholder the renderer does not fill")
    return text


def write_files(folder: Path, program, extra: dict[str, str]) -> list[str]:
    """Write the generated C, the runtime, the target's files and the Makefile; returns file names."""
    from mbmicro.codegen import aot

    p = program.prefix
    files = {
        f"{p}_model.h": aot.render_model_h(program),
        f"{p}_model.c": aot.render_model_c(program),
        f"{p}_kernels.c": aot.render_kernels_c(program),
        f"{p}_weights.h": program.weights.render_h(),
        f"{p}_weights.c": program.weights.render_c(),
        "mbmicro_app.h": aot.render_app_h(program),
        **extra,
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    for name in RUNTIME_FILES:
        shutil.copyfile(_package_file("runtime", name), folder / name)
    headers = microkernels.copy_headers(kernel_headers(program), folder)
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
    sources = [f"{p}_model.c", f"{p}_kernels.c", f"{p}_weights.c", "mbmicro_hooks.c", "mbmicro_main.c"]
    sources += [n for n in local if n.endswith(_COMPILED)]
    deps = [n for n in local if not n.endswith(_COMPILED)]
    (folder / "Makefile").write_text(render_makefile(program.target, p, sources, deps))
    return sorted([*files, *RUNTIME_FILES, *headers, *local, "Makefile"])


def kernel_headers(program) -> list[str]:
    """The micro-kernel headers (codegen/microkernels) the program's kernel sources include.

    Read from the sources themselves, so the copy matches what the compiler will look for.
    """
    return sorted({h for k in program.kernels for h in microkernels.headers_included(k.source)})


def build_project(graph, target: Target, out: Path, *, prefix: str, force: bool, info: dict,
                  lower=None, started: float | None = None) -> dict:
    """Lower, plan and write a complete build of the int8 ``graph`` to ``out``; returns the report.

    A model that does not fit ``target``'s SRAM/flash budgets (mbmicro.targets.budgets) is a
    UserError: arena and weights are checked before anything is written, code once
    it is compiled in the staging folder, which is then discarded.
    ``info`` (model name and options) goes into build.json; ``lower`` replaces
    codegen.kernels.lower_node (tests).  The returned report has one field the
    written report.json lacks, ``build_time_s``: seconds since ``started``
    (a perf_counter() value; default: the call), for the caller to print; kept
    out of the folder, it would make two identical builds differ.
    """
    import time

    from mbmicro.graph import serialize as graph_io
    from mbmicro.codegen import aot, report

    started = time.perf_counter() if started is None else started
    check_destination(out, force)
    program = aot.lower_graph(graph, target, prefix, lower=lower)
    x, y = graph.input, graph.output
    model = str(info.get("model", graph.name))

    def need(code: int) -> dict:
        return budgets.requirements(target, program.plan.peak, x.nbytes + y.nbytes,
                                    program.weights.total_bytes, code)

    budgets.check(need(0), target, model, code_known=False)  # arena and weights: before writing anything
    build = {
        "format": BUILD_FORMAT, **info, "target": target.name, "prefix": prefix,
        "exe": executable_names(target),
        "input": {"tensor": x.name, "shape": list(x.shape), "scale": float(x.scale),
                  "zero_point": int(x.zero_point)},
        "output": {"tensor": y.name, "shape": list(y.shape), "scale": float(y.scale),
                   "zero_point": int(y.zero_point)},
    }
    with staging(out, force) as tmp:
        files = write_files(tmp, program, {})
        if firmware.wants_firmware(target):  # OUT/firmware/: the program for the real board
            files += firmware.write_firmware(tmp, program, tuple(x.shape))
        graph_io.save_graph(graph, tmp)
        build["files"] = sorted([*files, "graph.json", "graph.npz", "build.json", "report.json", "report.md"])
        code = report.code_bytes(tmp, program)
        memory = need(code[0])
        budgets.check(memory, target, model, code_known=True)  # refusing here discards the staging folder
        rep = report.make_report(program, build, code, memory)
        (tmp / "report.json").write_text(report.render_json(rep))
        (tmp / "report.md").write_text(report.render_md(rep, program))
        # the marker last: a folder with a build.json is complete
        (tmp / "build.json").write_text(json.dumps(build, indent=1, sort_keys=True) + "\n")
    return {**rep, "build_time_s": round(time.perf_counter() - started, 3)}
