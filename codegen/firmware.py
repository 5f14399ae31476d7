"""The board firmware project: ``OUT/firmware/`` for a ``--target BOARD`` build of an MCU board.

Why a second program beside the simulator test program in OUT/: that one reads
its input and writes its output through semihosting and newlib, which a board
on a bench does not have.  The firmware is what runs on the real part: the
board's start-up, a linker script with its real memory map (code and weights
in flash, arena and stack in SRAM), its console UART, the DWT cycle counter
and a main that runs the model once on the build's test input and prints one
line (``MBMICRO rc=0 cycles=N crc32=XXXXXXXX out=HEX``, targets/common/fw_main.c).
It links with -nostdlib: no newlib, no semihosting.

Everything but the numbers is a plain file in ``targets/common/`` (C, assembly,
templates of the linker script, the board header, the Makefile and the
CMakeLists.txt); this module copies them and fills the ``@NAME@`` fields from
the board's target.json (docs/BOARDS.md) and the program's prefix.  The test
input is the first input of ``mbmicro verify --seed 0`` (numpy
``default_rng(0)``), written as raw bytes and included by test_input.S.
The model is the library in ``OUT/model/``: the firmware's Makefile includes
its model.mk, the CMakeLists.txt its model.cmake.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import numpy as np

from mbmicro.targets.target import Target

FOLDER = "firmware"
TEST_INPUT = "test_input.bin"
#: fixed files copied from targets/common into every firmware folder
COMMON_FILES = ("startup_m.S", "sections_m.ld", "fw_crt.c", "fault_text.h", "freestanding_mem.c", "fw_main.c",
                "fw_cycles.c", "fw_cycles.h", "console.h", "console_text.c", "console_text.h", "test_input.S",
                "arm-none-eabi.cmake")
#: console driver name (target.json "board" -> "console" -> "driver") -> its C file
DRIVERS = {"stm32_usart": "stm32_usart.c", "cmsdk_uart": "cmsdk_uart.c"}
_LAYOUTS = {"f4": "MBMICRO_USART_F4", "v2": "MBMICRO_USART_V2", "lpuart": "MBMICRO_USART_LPUART"}
#: b-flash's on-device protocol (targets/common/console_serve.c/.h), copied when this mbmicro has it
SERVE_FILES = ("console_serve.c", "console_serve.h")


def wants_firmware(target: Target) -> bool:
    """A firmware project is written for MCU boards (not for cores, nor for Linux boards)."""
    return target.board is not None and target.board.deploy == "mcu"


def _common(name: str) -> Path:
    from mbmicro.targets.target import targets_root

    return targets_root() / "common" / name


def fill(template: str, values: dict[str, object], what: str) -> str:
    """``template`` with every @NAME@ replaced; a field without a value is a bug in the template."""
    def one(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ValueError(f"{what}: template field @{m.group(1)}@ has no value")
        return str(values[m.group(1)])

    return re.sub(r"@([A-Z_]+)@", one, template)


def _render(name: str, values: dict[str, object]) -> str:
    return fill(_common(name).read_text(), values, name)


def _hex(n: int) -> str:
    return f"0x{n:08X}"


def board_values(target: Target) -> dict[str, object]:
    """Fields of mbmicro_board.h.in for ``target``'s console and clock."""
    board = target.board
    con = board.console
    layout = _LAYOUTS.get(con.get("layout", ""), "0")
    enable = ", ".join(f"{{{_hex(r)}u, {_hex(b)}u}}" for r, b in con.get("enable", [])) or "/* none */"
    pins = ", ".join(f"{{{_hex(p['gpio'])}u, {int(p['pin'])}u, {int(p['af'])}u}}" for p in con.get("pins", []))
    return {
        "BOARD": target.name, "MCU": board.mcu, "CLOCK_NOTE": board.clock_note, "CLOCK_HZ": board.clock_hz,
        "CONSOLE_INSTANCE": con["instance"], "CONSOLE_VIA": con.get("via", ""), "CONSOLE_DRIVER": con["driver"],
        "CONSOLE_BASE": _hex(con["base"]), "CONSOLE_BAUD": int(con["baud"]),
        "CONSOLE_CLOCK_HZ": int(con.get("clock_hz", board.clock_hz)), "USART_LAYOUT": layout,
        "CONSOLE_ENABLE": enable, "CONSOLE_PINS": pins or "/* none */",
        "DWT_UNLOCK": 1 if target.core == "cortex-m7" else 0,
    }


def linker_values(target: Target) -> dict[str, object]:
    """Fields of firmware_m.ld.in: the board's flash and SRAM (capped by --flash/--sram), stack size.

    A separate ``vectors`` region (MPS3: ITCM at 0) gets the vector table; otherwise it
    is the start of flash (the STM32 boot alias maps flash at 0)."""
    mem = target.board.memory
    flash, sram = mem["flash"], mem["sram"]
    vectors = mem.get("vectors")
    region = (f"    VECTORS (rx) : ORIGIN = {_hex(vectors.origin)}, LENGTH = {vectors.length}\n"
              if vectors else "")
    return {
        "BOARD": target.name, "MCU": target.board.mcu,
        "FLASH_ORIGIN": _hex(flash.origin), "FLASH_LENGTH": min(flash.length, target.flash_bytes),
        "SRAM_ORIGIN": _hex(sram.origin), "SRAM_LENGTH": min(sram.length, target.sram_bytes),
        "VECTORS_REGION": region, "VECTORS_ALIAS": "" if vectors else 'REGION_ALIAS("VECTORS", FLASH);',
        "STACK_BYTES": int(target.extra.get("stack_bytes", 8192)),
    }


def test_input(shape: tuple[int, ...]) -> np.ndarray:
    """The firmware's input: the first input ``mbmicro verify --seed 0`` draws."""
    return np.random.default_rng(0).integers(-128, 128, size=tuple(shape), dtype=np.int8)


def _driver(target: Target) -> str:
    """The console driver's C file; a board naming no known driver is a mistake in its folder."""
    driver = DRIVERS.get((target.board.console or {}).get("driver", ""))
    if driver is None:
        from mbmicro.errors import UserError

        raise UserError(f"board {target.name} has no console driver mbmicro knows ({', '.join(DRIVERS)}): "
                        f"fix targets/{target.name}/target.json")
    return driver


def makefile_values(target: Target, model: dict, sources: list[str], serve_c: list[str]) -> dict:
    """Fields of Makefile.firmware.in: compiler, flags, probe, the model's part, the sources."""
    probe, con = target.board.probe or {}, target.board.console
    return {
        "BOARD": target.name, "MCU": target.board.mcu, "CC": target.cc, "CFLAGS": shlex.join(target.cflags),
        "CONSOLE": f"{con['instance']}, {con.get('via', '')}", "BAUD": con["baud"],
        "OPENOCD_ARGS": shlex.join(probe.get("openocd") or []),
        "PROBE_NOTE": probe.get("note", "no openocd arguments in its target.json"),
        "MODEL_PART": _render("firmware_model.mk.in", model).rstrip("\n"),
        "FW_SRCS": " ".join(sources), "SERVE_SRCS": " ".join(serve_c),
    }


def cmake_values(target: Target, model: dict, sources: list[str], serve_c: list[str]) -> dict:
    """Fields of CMakeLists.firmware.in: the same as the Makefile's, in CMake's words."""
    return {
        "BOARD": target.name, "MCU": target.board.mcu, "PREFIX": model["PREFIX"],
        "CFLAGS": " ".join(target.cflags),
        "MODEL_CMAKE": _render("firmware_model.cmake.in", model).rstrip("\n"),
        "FW_SRCS_CMAKE": " ".join(f"${{FW_DIR}}/{s}" for s in sources),
        "SERVE_SRCS_CMAKE": " ".join(f"${{FW_DIR}}/{s}" for s in serve_c),
    }


def write_firmware(out: Path, program, input_shape: tuple[int, ...]) -> list[str]:
    """Write ``out/firmware/`` for ``program`` (an MCU board build); returns the names below ``out``."""
    target = program.target
    driver = _driver(target)
    serve = [n for n in SERVE_FILES if _common(n).is_file()]
    serve_c = [n for n in serve if n.endswith(".c")]
    sources = ["startup_m.S", "fw_crt.c", "freestanding_mem.c", "fw_main.c", "console_text.c", "fw_cycles.c", driver,
               "test_input.S"]
    model = {"PREFIX": program.prefix, "MACRO": program.macro}
    files = {
        "mbmicro_board.h": _render("mbmicro_board.h.in", board_values(target)),
        "mbmicro_fw_model.h": _render("mbmicro_fw_model.h.in", model),
        "firmware.ld": _render("firmware_m.ld.in", linker_values(target)),
        "Makefile": _render("Makefile.firmware.in", makefile_values(target, model, sources, serve_c)),
        "CMakeLists.txt": _render("CMakeLists.firmware.in", cmake_values(target, model, sources, serve_c)),
    }
    folder = Path(out) / FOLDER
    folder.mkdir()
    for name in (*COMMON_FILES, driver, *serve):
        shutil.copyfile(_common(name), folder / name)
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / TEST_INPUT).write_bytes(test_input(input_shape).tobytes())
    return sorted(f"{FOLDER}/{n}" for n in [*COMMON_FILES, driver, *serve, *files, TEST_INPUT])
