"""Run target executables in QEMU, optionally counting instructions per profiling region.

Why QEMU and instruction counts: the repository has no boards, and QEMU models no caches
or pipeline, so executed instructions are the measure that is exactly repeatable (same
binary + same input -> same numbers). Cycles need real hardware.

Two kinds of simulator are described by ``target.json`` "simulator":

* ``qemu-system`` (Cortex-M): bare-metal image, argv and host files through semihosting;
  main's return value comes back as QEMU's exit status (SYS_EXIT_EXTENDED).
* ``qemu-user`` (Cortex-A53): static Linux executable run by ``qemu-aarch64``.

Counting uses the TCG plugin ``targets/common/qemu_insn_count.c``: built once with the host
gcc into ``~/.cache/mbmicro`` (keyed by a hash of its source), given the addresses of
``mbmicro_layer_begin`` / ``mbmicro_layer_end`` (read from the ELF's symbol table with
pyelftools, mbmicro.formats.elf). Besides
the count, each region's instruction mix (classes of ``targets/common/insn_class.h``)
comes back, which mbmicro.sim.cycles turns into an estimated cycle count.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.formats import elf
from mbmicro.processes import run_child
from mbmicro.targets.target import Target, board_names, load_target, target_names, targets_root

BEGIN_SYMBOL = "mbmicro_layer_begin"
END_SYMBOL = "mbmicro_layer_end"
_PLUGIN_SOURCES = ("qemu_insn_count.c", "qemu_plugin_api.h", "insn_class.c", "insn_class.h")
# qemu-user hands its own environment to the guest, whose stack layout (and so a few
# instructions of libc start-up) depends on it: always pass this one.
_USER_MODE_ENV = {"LC_ALL": "C"}


@dataclass(frozen=True)
class InstructionCounts:
    """Executed instructions: one entry per begin/end region, in order, and the program total.

    ``mix[i]``: region i's instructions per class (names from the plugin's "classes" line,
    targets/common/insn_class.h) plus "extra_registers"; empty when the report has none.
    ``stdout``: what the program printed (the profile program's stack line, mbmicro_main.c)."""

    regions: list[int]
    total: int
    mix: list[dict[str, int]] = field(default_factory=list)
    stdout: str = ""


_SIMULATOR_KINDS = ("qemu-system", "qemu-user")


def is_simulated(target: Target) -> bool:
    """Whether ``target`` runs in QEMU, so its instructions can be counted."""
    return target.simulator.get("kind") in _SIMULATOR_KINDS


def simulated_target_names() -> list[str]:
    """The targets ``mbmicro profile`` can count instructions on."""
    return [name for name in target_names() if is_simulated(load_target(name))]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserError(f"'{name}' is not installed: run 'make setup' (installs the ARM toolchains and QEMU)")
    return path


def _qemu_escape(value: str) -> str:
    """QEMU option values separate fields with ',': a literal comma is written twice."""
    return value.replace(",", ",,")


def command(target: Target, exe: Path, args: list[str], plugin: list[str] | None = None) -> list[str]:
    """The QEMU command line that runs ``exe args...`` for ``target`` (plugin: path + key=value)."""
    sim = target.simulator
    kind = sim.get("kind")
    plugin_opts = ["-plugin", ",".join(_qemu_escape(p) for p in plugin)] if plugin else []
    if kind == "qemu-system":
        for arg in args:
            if not arg or any(c.isspace() for c in arg):
                raise UserError(f"argument {arg!r} is empty or has blanks: semihosting splits the command line "
                                "at blanks, so use paths without spaces")
        argv = [exe.name, *args]
        semihosting = ",".join(["enable=on", "target=native"] + [f"arg={_qemu_escape(a)}" for a in argv])
        return [_tool(sim["binary"]), *sim["args"], "-semihosting-config", semihosting,
                *plugin_opts, "-kernel", str(exe)]
    if kind == "qemu-user":
        # -0 fixes argv[0], so the guest sees the same strings wherever the build folder is
        return [_tool(sim["binary"]), *sim["args"], *plugin_opts, "-0", exe.name, str(exe), *args]
    raise UserError(f"target '{target.name}' is not simulated by QEMU: choose one of "
                    f"{', '.join(simulated_target_names())}")


def firmware_command(target: Target, elf: Path, serial: str = "stdio") -> list[str]:
    """QEMU command that runs a board's firmware (OUT/firmware/app.elf) on the board's own machine.

    No semihosting: the firmware talks only through its console UART, which is the
    machine's first serial port (``serial``: a QEMU chardev such as ``stdio`` or
    ``tcp:127.0.0.1:PORT,server=on,wait=off``). The firmware never exits; whoever
    starts this stops QEMU once it has read the result line.
    """
    machine = target.board.qemu_machine if target.board is not None else None
    if machine is None:
        boards = [n for n in board_names() if load_target(n).board.qemu_machine]
        raise UserError(f"{target.name} is not modelled by QEMU, so its firmware cannot run there: use a board "
                        f"with a QEMU machine ({', '.join(boards)}) or flash the real board")
    return [_tool(target.simulator["binary"]), "-M", machine, "-display", "none", "-monitor", "none",
            "-serial", serial, "-kernel", str(elf)]


def run(target: Target, exe: Path, args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``exe args...`` in the target's QEMU with ``cwd`` as the guest's working folder.

    Relative file arguments are relative to ``cwd``. Returns the finished process
    (stdout/stderr as bytes, like mbmicro.sim.execute's native runs; returncode = main's
    return value); never raises on a nonzero exit.
    """
    return _run(command(target, Path(exe).resolve(), args), target, cwd, timeout)


def _run(cmd: list[str], target: Target, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = dict(_USER_MODE_ENV) if target.simulator.get("kind") == "qemu-user" else None
    try:
        return run_child(cmd, cwd=cwd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"{target.name}: the program did not finish within {timeout:g} s in QEMU "
                        f"({' '.join(cmd)})") from exc


def marker_addresses(target: Target, exe: Path) -> tuple[int, int]:
    """Entry addresses of the begin/end marker functions in ``exe`` (Thumb bit cleared)."""
    try:
        table = elf.symbols(exe)
    except (OSError, ValueError) as exc:
        raise UserError(f"{exe} cannot be read as an ELF executable ({exc}): rebuild it with 'make profile'") from exc
    found = {name: table[name].address & ~1 for name in (BEGIN_SYMBOL, END_SYMBOL)
             if name in table and table[name].kind == "STT_FUNC"}
    missing = [s for s in (BEGIN_SYMBOL, END_SYMBOL) if s not in found]
    if missing:
        raise UserError(f"{exe} has no {' / '.join(missing)}: build it with -DMBMICRO_PROFILE "
                        "('make profile' in the build folder)")
    begin, end = found[BEGIN_SYMBOL], found[END_SYMBOL]
    if begin == end:
        raise UserError(f"{exe}: {BEGIN_SYMBOL} and {END_SYMBOL} share one address (the compiler merged "
                        "them): give them different bodies and __attribute__((noipa))")
    return begin, end


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mbmicro"


def plugin_path() -> Path:
    """The instruction-counting plugin, compiled on first use and cached by source hash."""
    folder = targets_root() / "common"
    digest = hashlib.sha256()
    for name in _PLUGIN_SOURCES:
        digest.update((folder / name).read_bytes())
    lib = cache_dir() / f"qemu_insn_count-{digest.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    # build under a private name, then rename: concurrent test workers never see half a file
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        part = Path(tmp) / lib.name
        cmd = [_tool("gcc"), "-std=c11", "-shared", "-fPIC", "-O2", "-fvisibility=hidden",
               "-Wall", "-Wextra", "-Werror", "-I", str(folder), "-o", str(part),
               str(folder / "qemu_insn_count.c"), str(folder / "insn_class.c")]
        result = run_child(cmd, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building the QEMU plugin failed:\n{' '.join(cmd)}\n{result.stderr}")
        os.replace(part, lib)
    return lib


def parse_counts(text: str) -> InstructionCounts:
    """Read the plugin's report ("region I N", "classes ...", "mix I N...", "total N", "error ..." lines)."""
    regions: list[int] = []
    names: list[str] = []
    mix: list[dict[str, int]] = []
    total = None
    errors = []
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "region":
            index, count = rest.split()
            if int(index) != len(regions):
                raise RuntimeError(f"plugin report out of order: {line!r}")
            regions.append(int(count))
        elif word == "classes":
            names = rest.split()
        elif word == "mix":
            index, *values = rest.split()
            if int(index) != len(mix) or len(values) != len(names):
                raise RuntimeError(f"plugin report: mix line out of order or without classes: {line!r}")
            mix.append(dict(zip(names, map(int, values))))
        elif word == "total":
            total = int(rest)
        elif word == "error":
            errors.append(rest)
    if errors:
        raise UserError(f"profiling markers misused: {'; '.join(errors)}")
    if total is None:
        raise RuntimeError(f"plugin report has no total line:\n{text}")
    if mix and len(mix) != len(regions):
        raise RuntimeError(f"plugin report has {len(mix)} mix lines for {len(regions)} regions")
    return InstructionCounts(regions=regions, total=total, mix=mix)


def count_instructions(target: Target, exe: Path, args: list[str], cwd: Path,
                       timeout: float = 600) -> InstructionCounts:
    """Run like :func:`run` under the counting plugin; the program must exit with status 0.

    ``regions[i]`` counts the instructions from the i-th call of ``mbmicro_layer_begin``
    to the following call of ``mbmicro_layer_end`` (the layer, plus a constant few for the
    marker calls); ``total`` is every instruction the program executed.
    """
    exe = Path(exe).resolve()
    begin, end = marker_addresses(target, exe)
    with tempfile.TemporaryDirectory(prefix="mbmicro-count-") as tmp:
        report = Path(tmp) / "counts.txt"
        plugin = [str(plugin_path()), f"begin={begin:#x}", f"end={end:#x}", f"out={report}"]
        result = _run(command(target, exe, args, plugin=plugin), target, cwd, timeout)
        if result.returncode != 0:
            output = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise UserError(f"{target.name}: {exe.name} exited with status {result.returncode} under QEMU:\n"
                            f"{output}")
        if not report.exists():
            raise RuntimeError(f"the counting plugin wrote no report:\n{result.stderr.decode(errors='replace')}")
        counts = parse_counts(report.read_text())
        return dataclasses.replace(counts, stdout=result.stdout.decode(errors="replace"))
