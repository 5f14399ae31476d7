"""Helpers of the flash and on-device tests: a netduinoplus2 board build and QEMU netduinoplus2.

QEMU's netduinoplus2 is an STM32F405: flash at 0x08000000, USART1 on the first
-serial (here a TCP server the host side reaches as socket://127.0.0.1:PORT,
exactly as it reaches a board's /dev/ttyACM0), a gdb server with -gdb. The
firmware is the board firmware project's (codegen/firmware.py) serve variant,
so the tests run the product, not a stand-in.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

MODEL = ["--model", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10"]


def netduino_firmware_build(out: Path) -> Path:
    """A netduinoplus2 build in ``out`` with its board firmware's serve variants made:
    firmware/app_serve.elf (console_serve.c after the fixed line) and app_serve_profile.elf
    (the same with per-layer cycles)."""
    from mbmicro.cli import main

    assert main(["build", *MODEL, "--target", "netduinoplus2", "-o", str(out)]) == 0
    subprocess.run(["make", "-C", str(out / "firmware"), "serve", "serve-profile"], check=True,
                   capture_output=True, timeout=300)
    return out


def free_port() -> int:
    """A TCP port nobody listens on now (bound to port 0, then released for QEMU)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    """Until QEMU accepts connections on ``port`` (probing with a connect would take its one serial
    client, so the listening socket is looked up in /proc/net/tcp)."""
    end = time.monotonic() + timeout
    want = f":{port:04X} 00000000:0000 0A"
    while time.monotonic() < end:
        if want in Path("/proc/net/tcp").read_text():
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def qemu_netduino(kernel: Path | None = None, gdb: bool = False):
    """QEMU netduinoplus2 with USART1 on a TCP server; yields (serial URL, gdb port or None).

    With ``gdb`` the machine waits halted (-S) for a debugger to load it;
    otherwise ``kernel`` is loaded into flash at start."""
    serial_port = free_port()
    cmd = [shutil.which("qemu-system-arm") or "qemu-system-arm", "-M", "netduinoplus2", "-nographic",
           "-monitor", "none", "-serial", f"tcp:127.0.0.1:{serial_port},server=on,wait=off"]
    gdb_port = None
    if gdb:
        gdb_port = free_port()
        cmd += ["-S", "-gdb", f"tcp:127.0.0.1:{gdb_port}"]
    if kernel is not None:
        cmd += ["-kernel", str(kernel)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(serial_port)
        if gdb_port is not None:
            wait_listening(gdb_port)
        yield f"socket://127.0.0.1:{serial_port}", gdb_port
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()
