"""Board firmware (issue 10): `--target BOARD` writes OUT/firmware/, which builds with plain
make and with CMake, links against the board's real memory map without newlib, and -- on the
boards QEMU models -- runs from reset, prints its result line on the console UART, and that
output equals the NumPy int8 reference.

Most tests use the one-layer LUT build of test_cli_build (no TVM, seconds); one builds
mobilenetv2 0.35 for the netduinoplus2 (at 64 px: 96 px needs 186 KB SRAM, more than its 128 KiB).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import select
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main as cli_main
from mbmicro.codegen import firmware
from mbmicro.codegen.project import build_project
from mbmicro.errors import UserError
from mbmicro.formats import elf as elf_file
from mbmicro.graph import serialize
from mbmicro.reference.int8 import run_int8
from mbmicro.sim import qemu
from mbmicro.targets.target import board_names, load_target

from test_cli_build import _lower, _lut_graph

MCU_BOARDS = [b for b in board_names() if load_target(b).board.deploy == "mcu"]
QEMU_BOARDS = [b for b in MCU_BOARDS if load_target(b).board.qemu_machine]
LINE = re.compile(r"MBMICRO rc=(-?\d+) cycles=(\d+) crc32=([0-9a-f]{8}) out=([0-9a-f]*)\r\n")
NEWLIB = ("_sbrk", "malloc", "printf", "_write", "__libc_init_array", "initialise_monitor_handles")


def _lut_build(board: str, out: Path) -> Path:
    build_project(_lut_graph(), load_target(board), out, prefix="one", force=False,
                  info={"model": "one-lut", "options": {}}, lower=_lower)
    return out


def _make(folder: Path, *goals: str) -> subprocess.CompletedProcess:
    r = subprocess.run(["make", "-s", "-j2", *goals], cwd=folder, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _cmake(folder: Path, build: Path, *options: str) -> Path:
    for cmd in (["cmake", "-S", str(folder), "-B", str(build), *options],
                ["cmake", "--build", str(build), "-j2"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    return build / "app.elf"


def console_lines(target, elf: Path, until: re.Pattern, timeout: float = 60) -> str:
    """Run ``elf`` on the board's QEMU machine with the console on stdout until ``until`` matches."""
    proc = subprocess.Popen(qemu.firmware_command(target, elf), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    text, deadline = b"", time.monotonic() + timeout
    try:
        while not until.search(text.decode("latin-1")):
            left = deadline - time.monotonic()
            assert left > 0, f"no result line within {timeout} s: {text[-400:]!r}"
            if select.select([proc.stdout], [], [], left)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"QEMU exited: {text[-400:]!r}"
                text += chunk
        return text.decode("latin-1")
    finally:
        proc.kill()
        proc.wait()


def result_line(target, elf: Path) -> tuple[int, int, str, bytes]:
    m = LINE.search(console_lines(target, elf, LINE))
    return int(m.group(1)), int(m.group(2)), m.group(3), bytes.fromhex(m.group(4))


def expected(out: Path) -> tuple[str, bytes]:
    """crc32 and bytes of the NumPy reference on the firmware's test input."""
    graph = serialize.load_graph(out)
    x = np.frombuffer((out / "firmware" / firmware.TEST_INPUT).read_bytes(), dtype=np.int8)
    y = run_int8(graph, x.reshape(graph.input.shape)).astype(np.int8).tobytes()
    return f"{zlib.crc32(y):08x}", y


def _symbols(target, path: Path) -> dict[str, int]:
    return {name: s.address for name, s in elf_file.symbols(path).items()}


def test_firmware_folder_is_listed_and_byte_identical_between_builds(tmp_path):
    a, b = _lut_build("netduinoplus2", tmp_path / "a"), _lut_build("netduinoplus2", tmp_path / "b")
    import json

    listed = [f for f in json.loads((a / "build.json").read_text())["files"] if f.startswith("firmware/")]
    on_disk = sorted(f"firmware/{p.name}" for p in (a / "firmware").iterdir())
    assert listed == on_disk
    assert {"firmware/Makefile", "firmware/CMakeLists.txt", "firmware/firmware.ld", "firmware/stm32_usart.c",
            "firmware/startup_m.S", "firmware/test_input.bin", "firmware/mbmicro_board.h"} <= set(listed)
    for name in on_disk:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "firmware" / "test_input.bin").read_bytes() == firmware.test_input((1, 4, 4, 3)).tobytes()


def test_no_firmware_for_cores_and_linux_boards(tmp_path):
    for name in ("cortex-m4", "raspberrypi3"):
        out = _lut_build(name, tmp_path / name)
        assert not (out / "firmware").exists()


@pytest.mark.parametrize("board", MCU_BOARDS)
def test_firmware_links_at_the_boards_memory_map_without_newlib(board, tmp_path):
    out = _lut_build(board, tmp_path / "b")
    fw = out / "firmware"
    _make(fw)
    target = load_target(board)
    syms = _symbols(target, fw / "app.elf")
    mem = target.board.memory
    flash, sram = mem["flash"], mem["sram"]
    vectors = mem.get("vectors", flash)
    assert syms["__vectors"] == vectors.origin
    assert flash.origin <= syms["one_run"] < flash.end and flash.origin <= syms["mbmicro_test_input"] < flash.end
    assert sram.origin <= syms["__bss_start"] <= syms["__stack_top"] <= sram.end
    assert not [s for s in NEWLIB if s in syms]
    ld = (fw / "firmware.ld").read_text()
    assert f"ORIGIN = 0x{flash.origin:08X}, LENGTH = {flash.length}" in ld
    assert f"ORIGIN = 0x{sram.origin:08X}, LENGTH = {sram.length}" in ld
    board_h = (fw / "mbmicro_board.h").read_text()
    assert f"#define MBMICRO_CONSOLE_BASE 0x{target.board.console['base']:08X}u" in board_h


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_firmware_runs_on_the_boards_qemu_and_equals_the_reference(board, tmp_path):
    out = _lut_build(board, tmp_path / "b")
    _make(out / "firmware")
    rc, cycles, crc, got = result_line(load_target(board), out / "firmware" / "app.elf")
    want_crc, want = expected(out)
    assert (rc, crc, got) == (0, want_crc, want)
    assert cycles == 0  # QEMU has no DWT cycle counter: 0, not an invented number


def test_firmware_on_a_board_without_qemu_machine_is_one_clear_error():
    with pytest.raises(UserError, match="nucleo-f412zg is not modelled by QEMU.*netduinoplus2"):
        qemu.firmware_command(load_target("nucleo-f412zg"), Path("app.elf"))


def test_too_small_sram_fails_to_link(tmp_path):
    """The firmware's linker script is the board's memory map: an arena too large for it does not link."""
    out = _lut_build("netduinoplus2", tmp_path / "b")
    ld = out / "firmware" / "firmware.ld"
    ld.write_text(ld.read_text().replace("LENGTH = 131072", "LENGTH = 8192"))
    r = subprocess.run(["make", "-s"], cwd=out / "firmware", capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "region `SRAM' overflowed" in r.stderr


def test_make_serve_without_the_protocol_says_why(tmp_path):
    out = _lut_build("netduinoplus2", tmp_path / "b")
    if (out / "firmware" / "console_serve.c").exists():  # b-flash's protocol is merged: serve builds
        _make(out / "firmware", "serve")
        return
    r = subprocess.run(["make", "-s", "serve"], cwd=out / "firmware", capture_output=True, text=True)
    assert r.returncode != 0 and "no targets/common/console_serve.c" in r.stderr


def test_make_flash_calls_openocd_with_the_boards_probe(tmp_path):
    out = _lut_build("nucleo-f412zg", tmp_path / "b")
    r = _make(out / "firmware", "flash", "OPENOCD=echo")
    assert r.stdout.split() == ["-f", "board/st_nucleo_f4.cfg", "-c", "program", "app.elf", "verify", "reset",
                                "exit"]
    out = _lut_build("mps3-an547", tmp_path / "m")
    r = subprocess.run(["make", "-s", "flash"], cwd=out / "firmware", capture_output=True, text=True)
    assert r.returncode != 0 and "has no openocd probe" in r.stderr and "microSD" in r.stderr


def test_verify_on_a_board_build_uses_the_boards_qemu_machine(tmp_path, capsys):
    out = _lut_build("netduinoplus2", tmp_path / "b")
    target = load_target("netduinoplus2")
    cmd = qemu.command(target, out / "app.elf", ["in.bin", "out.bin"])
    assert cmd[cmd.index("-M") + 1] == "netduinoplus2"
    assert cli_main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact (one-lut, netduinoplus2)" in capsys.readouterr().out


def test_mobilenetv2_firmware_on_netduinoplus2_make_and_cmake(tmp_path, capsys):
    """The issue's case: mobilenetv2 0.35 (64 px) for the netduinoplus2, firmware built with make and
    with CMake, both run in qemu-system-arm -M netduinoplus2 and print the reference's crc32 and
    output; the profile variant prints one cycles line per layer first."""
    out = tmp_path / "mnv2"
    assert cli_main(["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "64", "--classes", "10",
                     "--target", "netduinoplus2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith(f"firmware for the Netduino Plus 2 in {out / 'firmware'}: 'make' builds app.elf")
    target = load_target("netduinoplus2")
    want_crc, want = expected(out)
    _make(out / "firmware", "all", "profile")
    elf_cmake = _cmake(out / "firmware", tmp_path / "cmake-build")
    for elf in (out / "firmware" / "app.elf", elf_cmake):
        rc, _, crc, got = result_line(target, elf)
        assert (rc, crc, got) == (0, want_crc, want), elf
    text = console_lines(target, out / "firmware" / "app_profile.elf", LINE)
    layers = re.findall(r"MBMICRO layer=(\d+) cycles=(\d+)\r\n", text)
    assert [int(i) for i, _ in layers] == list(range(len(serialize.load_graph(out).nodes)))
    assert LINE.search(text).group(3) == want_crc


@pytest.mark.parametrize("board", board_names())
def test_every_board_build_verifies_in_its_simulator(board, tmp_path, capsys):
    """The simulator program of a board build runs on the board's QEMU machine, or its core's
    with the board's budgets (raspberrypi4: qemu-aarch64 -cpu cortex-a72)."""
    out = _lut_build(board, tmp_path / "b")
    assert cli_main(["verify", str(out), "--count", "1"]) == 0
    assert f"verified 1/1 inputs bit-exact (one-lut, {board})" in capsys.readouterr().out


def test_a_fault_is_reported_on_the_console(tmp_path):
    out = _lut_build("netduinoplus2", tmp_path / "b")
    fw = out / "firmware"
    shutil.copy(Path(__file__).parent / "data" / "fw_fault" / "fw_fault.c", fw)
    _make(fw, "FW_SRCS=startup_m.S fw_crt.c freestanding_mem.c fw_fault.c fw_cycles.c stm32_usart.c test_input.S")
    fault = re.compile(r"mbmicro: fault: exception 0x([0-9a-f]{8}) pc 0x[0-9a-f]{8} lr 0x[0-9a-f]{8}\r\n")
    text = console_lines(load_target("netduinoplus2"), fw / "app.elf", fault, timeout=30)
    assert "fw_fault: trapping" in text and fault.search(text).group(1) == "00000003"  # HardFault


def test_a_board_without_a_known_console_driver_is_one_clear_error(tmp_path):
    target = load_target("netduinoplus2")
    board = dataclasses.replace(target.board, console={**target.board.console, "driver": "bitbang"})
    bad = dataclasses.replace(target, board=board)
    with pytest.raises(UserError, match="board netduinoplus2 has no console driver mbmicro knows"):
        build_project(_lut_graph(), bad, tmp_path / "b", prefix="one", force=False,
                      info={"model": "one-lut", "options": {}}, lower=_lower)
    assert not (tmp_path / "b").exists()


def test_io_in_arena_firmware_runs_on_its_arena_and_equals_the_reference(tmp_path, capsys):
    """--memory min puts the input and output in the arena on a board too: fw_main.c copies the
    test input from flash into the arena and console_serve.c reads requests there, so the
    firmware has no I/O buffers of its own (a default build has them), and both still equal
    the reference (the main's line, and verify --on-device through the serve variant)."""
    from flash_harness import MODEL, qemu_netduino

    target = load_target("netduinoplus2")
    plain = _lut_build("netduinoplus2", tmp_path / "plain")
    _make(plain / "firmware", "all", "serve")
    own = {"output_buffer", "serve_input", "serve_output"}
    assert own <= set(_symbols(target, plain / "firmware" / "app_serve.elf"))

    out = tmp_path / "min"
    assert cli_main(["build", *MODEL, "--target", "netduinoplus2", "--memory", "min", "-o", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["io_in_arena"]
    _make(out / "firmware", "all", "serve")
    assert not own & set(_symbols(target, out / "firmware" / "app_serve.elf"))
    rc, _, crc, got = result_line(target, out / "firmware" / "app.elf")
    assert (rc, crc, got) == (0, *expected(out))
    capsys.readouterr()
    with qemu_netduino(kernel=out / "firmware" / "app_serve.elf") as (url, _):
        assert cli_main(["verify", str(out), "--on-device", "--serial", url, "--count", "2", "--timeout", "20"]) == 0
    assert "verified 2/2 inputs bit-exact on the device" in capsys.readouterr().out
