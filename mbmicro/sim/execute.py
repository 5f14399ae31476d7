"""Run a built program on its target: natively on the host, in QEMU otherwise.

Why one entry point: ``run``, ``verify`` and ``profile`` should not care
whether the executable is a host binary or a Cortex-M ELF; the target's
``simulator.kind`` decides, and everything but "native" goes through
:mod:`mbmicro.sim.qemu`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from typing import TYPE_CHECKING

from mbmicro.errors import UserError
from mbmicro.processes import run_child
from mbmicro.targets.target import Target

if TYPE_CHECKING:
    from mbmicro.sim.build_folder import BuildFolder


def run_program(target: Target, exe: Path, args: list[str], cwd: Path,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``exe args`` in ``cwd`` on ``target``; output is captured (bytes), never checked.

    A run that exceeds ``timeout`` seconds is a UserError naming the limit.  The
    program runs in a process group of its own (mbmicro.processes.run_child),
    stopped if mbmicro is interrupted.
    """
    exe = Path(exe).absolute()
    if not exe.is_file():
        raise UserError(f"{exe} does not exist: build it with 'make' in {exe.parent}")
    kind = target.simulator.get("kind")
    if kind != "native":
        try:
            from mbmicro.sim import qemu
        except ImportError:
            raise UserError(f"target {target.name} runs under {kind}, but this installation has no "
                            "QEMU runner (mbmicro.sim.qemu): use --target host") from None
        return qemu.run(target, exe, [str(a) for a in args], Path(cwd), timeout=timeout)
    try:
        return run_child([str(exe), *map(str, args)], cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"{exe.name} did not finish within {timeout:g} s: "
                        "pass a smaller model or a longer timeout") from None


def make(folder: Path, goal: str = "all") -> None:
    """``make -s goal`` in a build folder; a failure is a UserError with the compiler's last words."""
    try:
        done = run_child(["make", "-s", goal], cwd=folder, text=True)
    except FileNotFoundError:
        raise UserError("'make' is not installed: install it (e.g. apt-get install make)") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        tail = next((ln for ln in lines if "error" in ln.lower()), lines[-1]).strip()
        raise UserError(f"'make {goal}' failed in {folder}: {tail}; fix the toolchain or rebuild the folder")


def parse_trace(data: bytes) -> list[tuple[int, bytes]]:
    """Records (layer index, output bytes) of a trace written by mbmicro_main.c."""
    records, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError("truncated trace record header")
        index, nbytes = (int.from_bytes(data[pos + k:pos + k + 4], "little", signed=True) for k in (0, 4))
        pos += 8
        if nbytes < 0 or pos + nbytes > len(data):
            raise ValueError(f"trace record of layer {index} is truncated")
        records.append((index, data[pos:pos + nbytes]))
        pos += nbytes
    return records


def run_build(folder: BuildFolder, x_int8, trace: bool = False, timeout: float = 600):
    """Run a build folder's executable on one int8 input (made first if missing or stale).

    The executable is the one the folder's Makefile rule makes for the target
    (BuildFolder.exe), never a name read from build.json. Returns (int8 output
    with build.json's output shape, trace records or None); an output of the
    wrong size or a broken trace is a UserError saying to rebuild.
    """
    import tempfile

    import numpy as np

    goal = "trace" if trace else "all"
    make(folder.path, goal)
    exe = folder.made_exe(goal)
    with tempfile.TemporaryDirectory(prefix="mbmicro-run-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(np.ascontiguousarray(x_int8, dtype=np.int8).tobytes())
        args = ["input.bin", "output.bin"] + (["trace.bin"] if trace else [])
        done = run_program(folder.target, exe, args, work, timeout=timeout)
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            raise UserError(f"{exe.name} failed with exit code {done.returncode}: "
                            f"{err[-1] if err else 'no message'}; rebuild {folder.path} with 'mbmicro build --force'")
        data = _read_product(work / "output.bin", exe, folder, folder.output.nbytes)
        if len(data) != folder.output.nbytes:
            raise UserError(f"{exe.name} wrote {len(data):,} output bytes, but the model's output "
                            f"{folder.output.shape} is {folder.output.nbytes:,}: rebuild {folder.path} "
                            "with 'mbmicro build --force'")
        y = np.frombuffer(data, dtype=np.int8).reshape(folder.output.shape)
        records = None
        if trace:
            try:
                records = parse_trace(_read_product(work / "trace.bin", exe, folder, MAX_TRACE_BYTES))
            except ValueError as exc:
                raise UserError(f"{exe.name} wrote a broken trace ({exc}): rebuild {folder.path} "
                                "with 'mbmicro build --force'") from None
    return y, records


#: Largest trace read back (every layer's output of one run; a large model writes a few MB).
MAX_TRACE_BYTES = 1 << 30


def _read_product(path: Path, exe: Path, folder: BuildFolder, limit: int) -> bytes:
    """A file the program wrote in its working folder, at most ``limit`` (+1, to see overflow) bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise UserError(f"{exe.name} exited without writing {path.name}: rebuild {folder.path} "
                        "with 'mbmicro build --force'") from None
