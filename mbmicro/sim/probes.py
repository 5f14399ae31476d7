"""The command lines that put a board build's firmware on a board: openocd, pyocd, gdb, scp/ssh.

Why builders that only return lists: ``mbmicro flash --dry-run`` must print
exactly what a real flash would run, and tests check those lines for every
board without a probe or a board attached; running them is
mbmicro.commands.flash's business (through mbmicro.processes.run_child).

What each probe does, all ending with the new program running:

- openocd: ``program FILE verify reset exit`` writes flash through the board's
  interface and target scripts (target.json "board.probe.openocd"), reads it
  back, resets.
- pyocd: ``pyocd flash -t TARGET FILE`` then ``pyocd reset -t TARGET``
  (older pyocd releases do not reset after flashing; the second reset is
  harmless on newer ones).
- gdb: ``gdb-multiarch`` against a gdb server that is already running
  (openocd, pyocd gdbserver, ST-LINK GDB server, QEMU's ``-gdb``): ``load``
  writes the ELF's sections, then the initial SP and PC are read from the
  vector table at the start of flash, xPSR gets its reset value (the Thumb
  bit), and ``detach`` lets the core run. Setting the registers by hand,
  instead of a server-specific ``monitor reset``, works the same on every
  server (QEMU has no ``monitor reset halt``).
- linux-ssh boards (Raspberry Pi): no probe; the program is copied with scp
  into a folder in the login's home and made executable; run/verify
  --on-device then run it there once per input (:func:`ssh_run_command`).
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.targets.target import Target

PROBES = ("openocd", "pyocd", "gdb")

#: The debugger of the gdb path: Debian's multi-architecture gdb (arm-none-eabi-gdb is not packaged).
GDB = "gdb-multiarch"

#: The xPSR value after reset: only the Thumb bit (ARMv7-M ARM, B1.5.5).
XPSR_RESET = 0x01000000

#: Folder in the Raspberry Pi login's home the program is copied to.
REMOTE_DIR = "mbmicro"


def board_info(target: Target) -> dict | None:
    """The target.json "board" block of a board target as a dict, None for a core.

    Why both forms: the board loader (targets/target.py) may keep the block as
    a dict or as a dataclass; this module reads it by its documented keys."""
    board = getattr(target, "board", None)
    if dataclasses.is_dataclass(board):
        return dataclasses.asdict(board)
    if isinstance(board, dict):
        return board
    block = target.extra.get("board") if isinstance(target.extra, dict) else None
    return block if isinstance(block, dict) else None


def deploy_kind(target: Target) -> str:
    """"mcu" (flashed through a probe) or "linux-ssh" (copied over ssh); a core is a UserError."""
    board = board_info(target)
    if board is None:
        raise UserError(f"target '{target.name}' is a core, not a board: there is nothing to flash; rebuild "
                        f"with 'mbmicro build --target BOARD' (see 'mbmicro boards')")
    return str(board.get("deploy", "mcu"))


def probe_config(target: Target, probe: str):
    """The board's settings for ``probe``: openocd's script arguments or pyocd's target name."""
    if probe not in PROBES:
        raise UserError(f"unknown probe '{probe}': choose one of {', '.join(PROBES)}")
    if probe == "gdb":
        return None
    board = board_info(target) or {}
    config = (board.get("probe") or {}).get(probe)
    if not config:
        known = sorted(k for k, v in (board.get("probe") or {}).items() if v)
        other = f"use --probe {' or --probe '.join(known)}" if known else "flash it with your vendor's tool"
        raise UserError(f"board '{target.name}' has no {probe} settings in its target.json: {other}, "
                        f"or --probe gdb --gdb HOST:PORT against a running gdb server")
    return config


def openocd_commands(target: Target, elf: Path) -> list[list[str]]:
    """``openocd <board scripts> -c "program ELF verify reset exit"``."""
    scripts = [str(a) for a in probe_config(target, "openocd")]
    return [["openocd", *scripts, "-c", f"program {_tcl_word(str(elf))} verify reset exit"]]


def pyocd_commands(target: Target, elf: Path) -> list[list[str]]:
    """``pyocd flash -t NAME ELF`` then ``pyocd reset -t NAME``."""
    name = str(probe_config(target, "pyocd"))
    return [["pyocd", "flash", "-t", name, str(elf)], ["pyocd", "reset", "-t", name]]


def gdb_commands(target: Target, elf: Path, server: str) -> list[list[str]]:
    """Load ``elf`` through the gdb server at ``server`` (HOST:PORT) and start it from its vector table."""
    vectors = flash_origin(target)
    return [[GDB, "-nx", "-batch",
             "-ex", f"target extended-remote {check_server(server)}",
             "-ex", "load",
             "-ex", f"set $sp = *(unsigned int *){vectors:#010x}",
             "-ex", f"set $pc = *(unsigned int *){vectors + 4:#010x}",
             "-ex", f"set $xpsr = {XPSR_RESET:#010x}",
             "-ex", "detach",
             str(elf)]]


#: ssh and scp never prompt (mbmicro runs them without a terminal): a login that needs a password fails
#: at once with its message instead of hanging.
SSH_OPTIONS = ("-o", "BatchMode=yes")


def ssh_commands(host: str, program: Path) -> list[list[str]]:
    """Copy ``program`` to ``host``:~/mbmicro/ and make it executable (Raspberry Pi boards)."""
    host = check_host(host)
    remote = f"{REMOTE_DIR}/{program.name}"
    return [["ssh", *SSH_OPTIONS, host, f"mkdir -p {REMOTE_DIR}"],
            ["scp", *SSH_OPTIONS, str(program), f"{host}:{remote}"],
            ["ssh", *SSH_OPTIONS, host, f"chmod +x {shlex.quote(remote)}"]]


def ssh_run_command(host: str, program_name: str) -> list[str]:
    """Run the copied test program once on ``host``, input on stdin, output on stdout.

    Why /dev/stdin and /dev/stdout: the test program takes two file names
    (``app IN.bin OUT.bin``); Linux's names for the ssh channel's ends need
    no temporary files on the board and nothing to clean up."""
    return ["ssh", *SSH_OPTIONS, check_host(host),
            f"{REMOTE_DIR}/{shlex.quote(program_name)} /dev/stdin /dev/stdout"]


def flash_origin(target: Target) -> int:
    """Where the core fetches its vector table at reset: the board's "vectors" region when it has one
    (docs/BOARDS.md), else the start of its flash (target.json "board.memory.flash.origin")."""
    memory = (board_info(target) or {}).get("memory") or {}
    try:
        return int((memory.get("vectors") or memory["flash"])["origin"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"board '{target.name}' has no board.memory.flash.origin in its target.json: "
                        "add the flash region (see docs/BOARDS.md)") from None


def check_server(server: str) -> str:
    """HOST:PORT with a port in 1..65535."""
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"--gdb {server!r} is not HOST:PORT: pass e.g. --gdb localhost:3333 "
                        "(openocd's default gdb port)")
    return server


def check_host(host: str) -> str:
    """An ssh destination (user@host or host) that ssh cannot take for an option."""
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise UserError(f"--host {host!r} is not an ssh destination: pass e.g. --host pi@raspberrypi.local")
    return host


def _tcl_word(text: str) -> str:
    """``text`` as one word of an openocd (Tcl) command: braces keep blanks and $ literal."""
    if text and not any(c in text for c in " \t{}[]$\\;\""):
        return text
    if any(c in text for c in "{}\\"):
        raise UserError(f"path {text!r} has a brace or backslash, which openocd cannot take: move the build "
                        "folder to a plain path")
    return "{" + text + "}"


def format_command(cmd: list[str]) -> str:
    """One command as a line a POSIX shell runs unchanged (what --dry-run prints)."""
    return shlex.join(cmd)


#: Seconds one probe command may take (a 1 MiB flash over ST-LINK takes about 20 s).
PROBE_TIMEOUT_S = 300.0

#: How to install each tool the commands run.
INSTALL = {
    "openocd": "apt-get install openocd",
    "pyocd": "pip install pyocd",
    "gdb-multiarch": "apt-get install gdb-multiarch",
    "ssh": "apt-get install openssh-client",
    "scp": "apt-get install openssh-client",
}


def default_probe(target) -> str:
    """openocd when the board has openocd settings (it is a Debian package), else pyocd."""
    board = board_info(target) or {}
    settings = board.get("probe") or {}
    for probe in ("openocd", "pyocd"):
        if settings.get(probe):
            return probe
    raise UserError(f"board '{target.name}' has no probe settings in its target.json: pass --probe gdb "
                    "--gdb HOST:PORT against a running gdb server, or flash it with your vendor's tool")


def check_tools(commands: list[list[str]]) -> None:
    """Every program the commands start is installed, before the first one runs."""
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            raise UserError(f"{cmd[0]} is not installed: {INSTALL.get(cmd[0], 'install it')} "
                            "(or use --dry-run to see the commands)")


def execute(commands: list[list[str]]) -> None:
    """Run the commands in order; the first that fails ends the flash with its last output line."""
    from mbmicro.processes import run_child

    for cmd in commands:
        print(format_command(cmd), flush=True)
        try:
            done = run_child(cmd, text=True, timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"{cmd[0]} did not finish within {PROBE_TIMEOUT_S:g} s: check that the board is "
                            "connected and powered, and that no other debugger holds the probe") from None
        if done.returncode != 0:
            lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
            last = lines[-1].strip() if lines else "no output"
            raise UserError(f"{cmd[0]} failed (exit {done.returncode}: {last}): check the board's connection "
                            "and the probe, or run the command above by hand")
