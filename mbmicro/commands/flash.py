"""``mbmicro flash DIR``: put a board build's firmware on the board (openocd, pyocd or a gdb server).

Why a command and not only ``make flash``: the probe settings live in the
board's target.json (interface and target scripts, pyocd's target name, the
flash origin); reading them here keeps one source of truth for the Makefile,
the CLI and the tuning worker. ``--dry-run`` prints the exact commands, one
per line, as a shell would run them, and runs nothing: it needs neither the
probe tool nor a board.

With ``--serial PORT`` the console is opened before flashing (QEMU's TCP
serial drops what is written while no one listens) and the firmware's first
``MBMICRO`` line is printed: the proof that the new program runs.

Raspberry Pi boards (target.json "deploy": "linux-ssh") have no probe: the
build's program is copied with scp to ``--host`` (``ssh`` must log in without
a password prompt, e.g. with a key).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.sim.probes import check_tools, default_probe, execute

HELP = "flash a board build's firmware with openocd, pyocd or a gdb server (--dry-run prints the commands)"

#: The firmware folder of a board build and the program its plain ``make`` makes there; the
#: variants (app_profile.elf, app_serve.elf, ...) are chosen with --elf.
FIRMWARE_DIR = "firmware"
DEFAULT_ELF = "app.elf"



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build --target BOARD'")
    p.add_argument("--probe", choices=("openocd", "pyocd", "gdb"),
                   help="how to flash (default: openocd if the board has openocd settings, else pyocd)")
    p.add_argument("--gdb", metavar="HOST:PORT",
                   help="the gdb server for --probe gdb (openocd: localhost:3333, QEMU: -gdb tcp::PORT)")
    p.add_argument("--serial", metavar="PORT",
                   help="after flashing, print the firmware's first MBMICRO line from this console "
                        "(/dev/ttyACM0, socket://HOST:PORT)")
    p.add_argument("--elf", metavar="NAME", default=DEFAULT_ELF,
                   help=f"which program of DIR/{FIRMWARE_DIR}/ to flash (default {DEFAULT_ELF}; app_serve.elf "
                        "answers run/verify --on-device)")
    p.add_argument("--host", metavar="USER@HOST", help="Raspberry Pi boards: where to copy the program")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for the console line with --serial (default 30)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, one per line, and run nothing")


def plan(args: argparse.Namespace) -> list[list[str]]:
    """The commands that flash DIR as ``args`` ask, after every check that needs no tool."""
    from mbmicro.sim import probes
    from mbmicro.sim.build_folder import load_build_folder

    folder = load_build_folder(args.dir)
    target = folder.target
    if probes.deploy_kind(target) == "linux-ssh":
        if args.host is None:
            raise UserError(f"board '{target.name}' runs Linux and is deployed over ssh: pass --host USER@HOST "
                            "(e.g. --host pi@raspberrypi.local)")
        if args.probe is not None or args.gdb is not None or args.serial is not None or args.elf != DEFAULT_ELF:
            raise UserError(f"board '{target.name}' has no probe, console or firmware (its program is copied over "
                            "ssh): drop --probe, --gdb, --serial and --elf")
        program = folder.exe("all")
        if not program.is_file():
            raise UserError(f"{program} is missing: build it first with 'make -C {args.dir}'")
        return probes.ssh_commands(args.host, program)
    if args.host is not None:
        raise UserError(f"--host is for Raspberry Pi boards; board '{target.name}' is flashed through a probe: "
                        "drop --host")
    elf = firmware_elf(folder.path, args.dir, args.elf)
    probe = args.probe or default_probe(target)
    if probe == "gdb":
        if args.gdb is None:
            raise UserError("--probe gdb needs --gdb HOST:PORT, the gdb server to load through "
                            "(openocd's is localhost:3333)")
        return probes.gdb_commands(target, elf, args.gdb)
    if args.gdb is not None:
        raise UserError(f"--gdb is for --probe gdb, not --probe {probe}: drop --gdb or pass --probe gdb")
    builder = probes.openocd_commands if probe == "openocd" else probes.pyocd_commands
    return builder(target, elf)


def firmware_elf(path: Path, given: str, name: str) -> Path:
    """DIR/firmware/NAME: a plain file name (nothing outside the firmware folder), an existing file."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise UserError(f"--elf {name!r} is not a file name in {Path(given) / FIRMWARE_DIR}: pass e.g. "
                        f"--elf app_serve.elf")
    elf = path / FIRMWARE_DIR / name
    if not elf.is_file() or not elf.resolve().is_relative_to(path):
        goal = {"app.elf": ""}.get(name, f" {Path(name).stem.removeprefix('app_').replace('_', '-')}")
        raise UserError(f"{Path(given) / FIRMWARE_DIR / name} is missing: build the firmware first with "
                        f"'make -C {Path(given) / FIRMWARE_DIR}{goal}'")
    return elf


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.run import check_timeout

    check_timeout(args.timeout)
    commands = plan(args)
    if args.dry_run:
        from mbmicro.sim.probes import format_command

        for cmd in commands:
            print(format_command(cmd))
        return 0
    check_tools(commands)
    if args.serial is None:
        execute(commands)
        return 0
    from mbmicro.sim import device

    with device.open_console(args.serial, baud=device.console_baud(args.dir)) as port:
        port.reset_input_buffer()  # what the old firmware printed is not the new one's line
        execute(commands)
        line = device.first_line(port, args.serial, args.timeout)
    sys.stdout.write(line + "\n")
    return 0
