"""Measure tuning candidates on an attached board: flashed through its probe, timed by its cycle counter.

Why the board's own firmware pieces: the candidates run as they will in a build for that
board, from its flash with its wait states and clock, so the cost is the board's measured
cycles (``cycles_are: "measured"``), not the QEMU estimate.  The firmware is the board
firmware project's start-up, linker script, console driver and DWT counter (codegen/
firmware.py, targets/common/), with targets/common/fw_tune.c as main and the batch of
candidates that mbmicro.tune.measure.render_driver writes for QEMU too (the same calls between
the same begin/end hooks, each output compared with the reference's on the board).  It is
flashed like ``mbmicro flash`` does (openocd, pyocd or a gdb server) with the console opened
first, and its lines are read like ``run --on-device`` reads them (mbmicro.sim.device):

    MBMICRO tune start
    MBMICRO tune=I ok=O cycles=N
    MBMICRO tune done=COUNT

A batch whose firmware does not build, flash-and-finish within ``timeout`` or faults is split
by mbmicro.tune.measure.run_cases until the culprit stands alone, as in QEMU.  A probe that
fails raises (the worker's round is lost and retried elsewhere): a board that cannot be
flashed measures nothing.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.tune.measure import BATCH_BYTES, VERIFY_ERROR, Case, compile_in, copy_driver

#: fixed files of targets/common the tuning firmware links (the console driver's file besides)
COMMON = ("startup_m.S", "sections_m.ld", "fw_crt.c", "fault_text.h", "freestanding_mem.c", "fw_cycles.c",
          "fw_cycles.h", "console.h", "console_text.c", "console_text.h", "fw_tune.c", "fw_tune.h")
ELF = "tune.elf"
_RESULT = re.compile(r"MBMICRO tune=(\d+) ok=([01]) cycles=(\d+)")
_DONE = re.compile(r"MBMICRO tune done=(\d+)")


@dataclasses.dataclass
class BoardSpec:
    """An attached board and how to reach it (``mbmicro tune-worker --board ...``)."""

    board: str
    probe: str | None = None  # openocd, pyocd or gdb (default: probes.default_probe)
    gdb: str | None = None  # the gdb server of --probe gdb
    serial: str | None = None  # the console (default mbmicro.sim.device.DEFAULT_PORT)
    timeout: float = 60.0  # seconds from flashing to the done line


def check_spec(spec: BoardSpec) -> BoardSpec:
    """``spec`` with its defaults filled in, or a UserError naming what is wrong."""
    from mbmicro.sim.probes import default_probe
    from mbmicro.sim import device, probes
    from mbmicro.targets.target import board_names, load_target

    if spec.board not in board_names():
        raise UserError(f"unknown board {spec.board!r}: pick one of {', '.join(board_names())} ('mbmicro boards')")
    target = load_target(spec.board)
    if probes.deploy_kind(target) != "mcu":
        raise UserError(f"board '{spec.board}' runs Linux: it has no cycle counter console to tune on; tune on its "
                        "core's QEMU (drop --board)")
    probe = spec.probe or default_probe(target)
    probes.probe_config(target, probe)
    if probe == "gdb":
        if spec.gdb is None:
            raise UserError("--probe gdb needs --gdb HOST:PORT, the gdb server to load through "
                            "(openocd's is localhost:3333)")
        probes.check_server(spec.gdb)
    elif spec.gdb is not None:
        raise UserError(f"--gdb is for --probe gdb, not --probe {probe}: drop --gdb or pass --probe gdb")
    if not spec.timeout > 0:
        raise UserError(f"--board-timeout {spec.timeout:g} must be positive")
    return dataclasses.replace(spec, probe=probe, serial=spec.serial or device.DEFAULT_PORT)


def flash_commands(target, spec: BoardSpec, elf: Path) -> list[list[str]]:
    """The probe's commands that write ``elf`` and start it (mbmicro.sim.probes, as 'mbmicro flash')."""
    from mbmicro.sim import probes

    if spec.probe == "gdb":
        return probes.gdb_commands(target, elf, spec.gdb)
    return (probes.openocd_commands if spec.probe == "openocd" else probes.pyocd_commands)(target, elf)


class BoardMeter:
    """Measures cases on the board of ``spec``: one flash and one console read per batch."""

    batch_bytes = BATCH_BYTES

    def __init__(self, spec: BoardSpec):
        from mbmicro.targets.target import load_target

        self.spec = check_spec(spec)
        self.target = load_target(self.spec.board)
        self.measured_on = self.target.name
        flash = self.target.board.memory["flash"].length
        self.batch_bytes = min(BATCH_BYTES, flash // 2)  # the code of the candidates needs room too

    def firmware(self, cases: list[Case], folder: Path) -> tuple[Path | None, str]:
        """Write and link the tuning firmware; (ELF, "") or (None, the compiler's complaint)."""
        from mbmicro.codegen import firmware
        from mbmicro.targets.target import targets_root

        common = targets_root() / "common"
        folder.mkdir(parents=True, exist_ok=True)
        driver = firmware.DRIVERS.get((self.target.board.console or {}).get("driver", ""))
        if driver is None:
            raise UserError(f"board {self.target.name} has no console driver mbmicro knows "
                            f"({', '.join(firmware.DRIVERS)}): fix targets/{self.target.name}/target.json")
        for name in (*COMMON, driver):
            shutil.copyfile(common / name, folder / name)
        for name, template, values in (("mbmicro_board.h", "mbmicro_board.h.in", firmware.board_values(self.target)),
                                       ("firmware.ld", "firmware_m.ld.in", firmware.linker_values(self.target))):
            (folder / name).write_text(firmware.fill((common / template).read_text(), values, template))
        copy_driver(cases, folder, board=True)
        sources = sorted(p.name for p in folder.iterdir() if p.suffix in (".c", ".S"))
        t = self.target
        why = compile_in(folder, [t.cc, *t.cflags, "-ffreestanding", "-I.", *sources, "-nostdlib", "-T",
                                  "firmware.ld", "-Wl,--gc-sections", "-o", ELF, "-lgcc"])
        return (None, why) if why else (folder / ELF, "")

    def run(self, cases: list[Case], folder: Path) -> tuple[list[dict] | None, str]:
        """Per case ``{"ok": ..., "cycles": N}``, or (None, why) when the batch did not build or finish."""
        from mbmicro.sim.probes import check_tools, execute
        from mbmicro.sim import device

        elf, why = self.firmware(cases, folder)
        if elf is None:
            return None, why
        commands = flash_commands(self.target, self.spec, elf)
        check_tools(commands)
        with device.open_console(self.spec.serial, _baud(self.target)) as link:
            link.reset_input_buffer()  # what the previous firmware printed is not this batch's
            execute(commands)
            lines = _read_batch(device.Device(link, self.spec.serial, self.spec.timeout).lines,
                                self.spec.timeout)
        found = {int(m[1]): (m[2] == "1", int(m[3])) for m in map(_RESULT.fullmatch, lines) if m}
        if not any(_DONE.fullmatch(ln) for ln in lines) or sorted(found) != list(range(len(cases))):
            last = lines[-1] if lines else "nothing"
            return None, f"run: the board did not finish the batch within {self.spec.timeout:g} s (last line: {last[:120]})"
        results = []
        for i in range(len(cases)):
            ok, cycles = found[i]
            results.append({"ok": True, "cycles": cycles, "cycles_are": "measured"} if ok
                           else {"ok": False, "error": VERIFY_ERROR + f" (on {self.target.name})"})
        return results, ""


def _baud(target) -> int:
    from mbmicro.sim import device

    try:
        return int((target.board.console or {}).get("baud", device.DEFAULT_BAUD))
    except (TypeError, ValueError):
        return device.DEFAULT_BAUD


def _read_batch(lines, timeout: float) -> list[str]:
    """The firmware's lines from its start line to its done line (or a fault line, or the timeout)."""
    deadline = time.monotonic() + timeout
    out: list[str] = []
    started = False
    while (line := lines.readline(deadline)) is not None:
        line = line.strip()
        if line == "MBMICRO tune start":
            started, out = True, []
            continue
        if not started:
            continue
        out.append(line)
        if _DONE.fullmatch(line) or line.startswith("mbmicro: fault"):
            break
    return out


def measure_on_board(kernel, candidates: list[dict], spec: BoardSpec, *, seed: int = 0, lower=None) -> list[dict]:
    """mbmicro.tune.measure.measure on the board of ``spec``: one record per candidate, its cycles measured."""
    from mbmicro.codegen.kernels import lower_node
    from mbmicro.tune.measure import measure

    meter = BoardMeter(spec)
    return measure(kernel, candidates, meter.target, seed=seed, lower=lower or lower_node, meter=meter)
