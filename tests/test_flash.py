"""`mbmicro flash`: the probe command lines of every board (--dry-run), the gdb-server path
against QEMU netduinoplus2 (load the board firmware, start it, its fixed line appears,
then the on-device verify on the same running machine), and the one-line errors.

--dry-run needs no model: flash reads build.json (target, exe names) and looks for the
firmware; a folder with those two is a board build for it. The gdb test uses a real
netduinoplus2 build with its board firmware (codegen/firmware.py), serve variant.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from flash_harness import free_port, netduino_firmware_build, qemu_netduino
from mbmicro.cli import main
from mbmicro.reference.int8 import run_int8
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.codegen.project import executable_names
from mbmicro.targets.target import board_names, load_target, targets_root

TENSOR = {"tensor": "x", "shape": [1, 8, 8, 3], "scale": 1.0, "zero_point": 0}


def board_json(name: str) -> dict:
    """The board block as written in targets/<name>/target.json (not through the loader)."""
    return json.loads((targets_root() / name / "target.json").read_text())["board"]


def fake_board_build(name: str, folder: Path) -> Path:
    """build.json for board ``name`` and its product: firmware/app.elf (MCU) or the program (ssh)."""
    target = load_target(name)
    folder.mkdir(parents=True)
    build = {"format": "mbmicro-build/1", "model": "tiny", "options": {}, "target": name, "prefix": "tiny",
             "exe": executable_names(target), "input": TENSOR, "output": dict(TENSOR, tensor="y"),
             "files": ["build.json"]}
    (folder / "build.json").write_text(json.dumps(build))
    if board_json(name)["deploy"] == "mcu":
        (folder / "firmware").mkdir()
        (folder / "firmware" / "app.elf").write_bytes(b"\x7fELF")
    else:
        (folder / executable_names(target)["all"]).write_bytes(b"\x7fELF")
    return folder


def dry_run(capsys, *args) -> tuple[int, list[list[str]], str]:
    code = main(["flash", *map(str, args), "--dry-run"])
    out, err = capsys.readouterr()
    return code, [shlex.split(line) for line in out.splitlines()], err


MCU_BOARDS = [b for b in board_names() if board_json(b)["deploy"] == "mcu"]
SSH_BOARDS = [b for b in board_names() if board_json(b)["deploy"] == "linux-ssh"]


def test_every_board_is_covered():
    assert {"netduinoplus2", "nucleo-f412zg", "raspberrypi4"} <= set(board_names())
    assert set(MCU_BOARDS) | set(SSH_BOARDS) == set(board_names()) and SSH_BOARDS


@pytest.mark.parametrize("name", MCU_BOARDS)
def test_dry_run_openocd_pyocd_gdb(name, tmp_path, capsys):
    folder = fake_board_build(name, tmp_path / "b")
    elf = str(folder.resolve() / "firmware" / "app.elf")
    probe = board_json(name)["probe"]
    if probe.get("openocd"):
        code, cmds, _ = dry_run(capsys, folder, "--probe", "openocd")
        assert code == 0
        assert cmds == [["openocd", *probe["openocd"], "-c", f"program {elf} verify reset exit"]]
        code, default, _ = dry_run(capsys, folder)
        assert (code, default) == (0, cmds)  # openocd is the default when the board has it
    else:
        code, _, err = dry_run(capsys, folder, "--probe", "openocd")
        assert code == 2 and err.startswith(f"mbmicro: error: board '{name}' has no openocd settings")
        code, _, err = dry_run(capsys, folder)
        assert code == 2 and err.startswith(f"mbmicro: error: board '{name}' has no probe settings")
    if probe.get("pyocd"):
        code, cmds, _ = dry_run(capsys, folder, "--probe", "pyocd")
        assert code == 0
        assert cmds == [["pyocd", "flash", "-t", probe["pyocd"], elf], ["pyocd", "reset", "-t", probe["pyocd"]]]
    memory = board_json(name)["memory"]
    vectors = (memory.get("vectors") or memory["flash"])["origin"]
    code, cmds, _ = dry_run(capsys, folder, "--probe", "gdb", "--gdb", "localhost:3333")
    assert code == 0 and len(cmds) == 1
    gdb = cmds[0]
    assert gdb[0] == "gdb-multiarch" and gdb[-1] == elf
    steps = [gdb[i + 1] for i, a in enumerate(gdb) if a == "-ex"]
    assert steps == ["target extended-remote localhost:3333", "load",
                     f"set $sp = *(unsigned int *){vectors:#010x}", f"set $pc = *(unsigned int *){vectors + 4:#010x}",
                     "set $xpsr = 0x01000000", "detach"]


def test_dry_run_path_with_blanks(tmp_path, capsys):
    """A build folder with a blank in its path is one word for the shell and for openocd's Tcl."""
    folder = fake_board_build("nucleo-f412zg", tmp_path / "my builds" / "b")
    code, cmds, _ = dry_run(capsys, folder)
    assert code == 0 and cmds[0][-1] == f"program {{{folder.resolve()}/firmware/app.elf}} verify reset exit"


@pytest.mark.parametrize("name", SSH_BOARDS)
def test_dry_run_raspberry_pi(name, tmp_path, capsys):
    folder = fake_board_build(name, tmp_path / "b")
    program = str(folder.resolve() / executable_names(load_target(name))["all"])
    code, cmds, _ = dry_run(capsys, folder, "--host", "pi@raspberrypi.local")
    assert code == 0
    batch = ["-o", "BatchMode=yes"]
    assert cmds == [["ssh", *batch, "pi@raspberrypi.local", "mkdir -p mbmicro"],
                    ["scp", *batch, program, f"pi@raspberrypi.local:mbmicro/{Path(program).name}"],
                    ["ssh", *batch, "pi@raspberrypi.local", f"chmod +x mbmicro/{Path(program).name}"]]
    code, _, err = dry_run(capsys, folder)
    assert code == 2 and "pass --host USER@HOST" in err
    code, _, err = dry_run(capsys, folder, "--host", "pi@x", "--probe", "openocd")
    assert code == 2 and "drop --probe, --gdb, --serial and --elf" in err
    code, _, err = dry_run(capsys, folder, "--host=-oProxyCommand=x")
    assert code == 2 and "is not an ssh destination" in err


def _one_line(err: str, *words: str) -> bool:
    return err.startswith("mbmicro: error: ") and err.count("\n") == 1 and all(w in err for w in words)


def test_flash_errors(tmp_path, capsys, monkeypatch):
    """No firmware, a core build, not a build, a missing tool, --gdb without --probe gdb: one line, exit 2."""
    board = fake_board_build("nucleo-f412zg", tmp_path / "b")
    (board / "firmware" / "app.elf").unlink()
    code, _, err = dry_run(capsys, board)
    assert code == 2 and _one_line(err, "firmware/app.elf is missing", "make -C")
    core = tmp_path / "core"
    core.mkdir()
    build = {"format": "mbmicro-build/1", "model": "tiny", "options": {}, "target": "cortex-m4", "prefix": "tiny",
             "exe": executable_names(load_target("cortex-m4")), "input": TENSOR, "output": dict(TENSOR, tensor="y"),
             "files": ["build.json"]}
    (core / "build.json").write_text(json.dumps(build))
    code, _, err = dry_run(capsys, core)
    assert code == 2 and _one_line(err, "is a core, not a board", "--target BOARD")
    code, _, err = dry_run(capsys, tmp_path)
    assert code == 2 and _one_line(err, "is not an mbmicro build")
    board = fake_board_build("netduinoplus2", tmp_path / "n")
    code, _, err = dry_run(capsys, board, "--probe", "gdb")
    assert code == 2 and _one_line(err, "--probe gdb needs --gdb HOST:PORT")
    code, _, err = dry_run(capsys, board, "--probe", "gdb", "--gdb", "localhost")
    assert code == 2 and _one_line(err, "is not HOST:PORT")
    code, _, err = dry_run(capsys, board, "--gdb", "localhost:3333")
    assert code == 2 and _one_line(err, "--gdb is for --probe gdb")
    code, _, err = dry_run(capsys, board, "--elf", "../build.json")
    assert code == 2 and _one_line(err, "is not a file name in")
    code, _, err = dry_run(capsys, board, "--elf", "app_serve.elf")
    assert code == 2 and _one_line(err, "firmware/app_serve.elf is missing", "firmware serve'")
    (board / "firmware" / "app_serve.elf").write_bytes(b"\x7fELF")
    code, cmds, _ = dry_run(capsys, board, "--elf", "app_serve.elf")
    assert code == 0 and cmds[0][-1] == f"program {board.resolve()}/firmware/app_serve.elf verify reset exit"
    code, _, err = dry_run(capsys, board, "--host", "pi@x")
    assert code == 2 and _one_line(err, "--host is for Raspberry Pi boards")
    with pytest.raises(SystemExit) as exit_:  # argparse: one line too
        main(["flash", str(board), "--probe", "jlink"])
    assert exit_.value.code == 2
    assert _one_line(capsys.readouterr().err, "invalid choice: 'jlink'")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["flash", str(board)]) == 2
    assert _one_line(capsys.readouterr().err, "openocd is not installed", "apt-get install openocd")
    assert main(["flash", str(board), "--probe", "pyocd"]) == 2
    assert _one_line(capsys.readouterr().err, "pyocd is not installed", "pip install pyocd")


@pytest.fixture(scope="module")
def netduino_build(tmp_path_factory):
    """A real netduinoplus2 build with its board firmware's serve variant made (firmware/app_serve.elf)."""
    return netduino_firmware_build(tmp_path_factory.mktemp("flash") / "netduino")


def test_gdb_flash_loads_and_runs_in_qemu(netduino_build, capsys):
    """flash --probe gdb loads the board firmware through QEMU's gdb server into the halted machine's
    flash and starts it from its vector table: its fixed line appears on the console with the
    reference's output for the build's test input, and the model then verifies bit-exact over the
    same console (the firmware's serve loop, console_serve.c)."""
    assert shutil.which("gdb-multiarch"), "gdb-multiarch is a test dependency (Makefile DEB_PACKAGES)"
    folder = load_build_folder(netduino_build, need_graph=True)
    x = np.frombuffer((netduino_build / "firmware" / "test_input.bin").read_bytes(), dtype=np.int8)
    want = run_int8(folder.graph, x.reshape(folder.input.shape)).tobytes()
    with qemu_netduino(gdb=True) as (url, gdb_port):
        code = main(["flash", str(netduino_build), "--probe", "gdb", "--gdb", f"127.0.0.1:{gdb_port}",
                     "--elf", "app_serve.elf", "--serial", url, "--timeout", "20"])
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("gdb-multiarch ") and lines[0].endswith("/firmware/app_serve.elf")
        assert lines[-1] == f"MBMICRO rc=0 cycles=0 crc32={zlib.crc32(want):08x} out={want.hex()}"
        assert main(["verify", str(netduino_build), "--on-device", "--serial", url, "--count", "2",
                     "--timeout", "20"]) == 0
    assert "verified 2/2 inputs bit-exact on the device" in capsys.readouterr().out


def test_gdb_flash_without_server(netduino_build, capsys):
    """Nothing listens on the gdb port: gdb fails and flash says so in one line."""
    assert main(["flash", str(netduino_build), "--probe", "gdb", "--gdb", f"127.0.0.1:{free_port()}",
                 "--elf", "app_serve.elf"]) == 2
    err = capsys.readouterr().err
    assert _one_line(err, "gdb-multiarch failed")


def test_flash_runs_the_probe_commands(tmp_path, capsys, monkeypatch):
    """Without --dry-run the commands run in order, each echoed first; the first that fails ends the
    flash with its last output line (stand-in openocd and pyocd scripts log their arguments)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    for name, status in (("pyocd", 0), ("openocd", 1)):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n'
                                    f'echo "Error: libusb_open() failed" >&2\nexit {status}\n')
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    board = fake_board_build("nucleo-f412zg", tmp_path / "b")
    elf = f"{board.resolve()}/firmware/app.elf"
    assert main(["flash", str(board), "--probe", "pyocd"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"pyocd flash -t stm32f412zgtx {elf}", "pyocd reset -t stm32f412zgtx"]
    assert log.read_text().splitlines() == out
    assert main(["flash", str(board)]) == 2
    err = capsys.readouterr().err
    assert _one_line(err, "openocd failed (exit 1: Error: libusb_open() failed)")

