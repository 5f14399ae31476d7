"""Helpers of the flash and on-device tests: the serve image (tests/data/serve_image) and QEMU netduinoplus2.

Why an image of the tests' own: it links a real build's model C with
targets/common/console_serve.c and nothing of the board firmware project, so these tests check the protocol and the probe paths alone.
QEMU's netduinoplus2 is an STM32F405: flash at 0x08000000, USART1 on the first
-serial (here a TCP server the host side reaches as socket://127.0.0.1:PORT),
a gdb server with -gdb.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "tests" / "data" / "serve_image"
COMMON = ROOT / "targets" / "common"
CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c99",
          "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections"]


def model_sources(build: Path) -> tuple[list[Path], list[Path]]:
    """(the model's C files without the hook markers, include folders) of a build folder.

    The model lives in build/model/ (the model library) or, in older builds,
    beside the test program; mbmicro_hooks.c is left out (profile images
    link tests/data/serve_image/cycles.c, which defines the same hooks)."""
    folder = build / "model" if (build / "model").is_dir() else build
    prefix = json.loads((build / "build.json").read_text())["prefix"]
    sources = sorted(p for p in folder.glob("*.c") if p.name.startswith(f"{prefix}_"))
    return sources, [folder, build]


def model_binding(build: Path, folder: Path) -> Path:
    """mbmicro_fw_model.h for ``build``'s prefix in ``folder`` (what the board firmware generates)."""
    prefix = json.loads((build / "build.json").read_text())["prefix"]
    macro = prefix.upper()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mbmicro_fw_model.h").write_text("\n".join([
        f'#include "{prefix}_model.h"', f"#define MBMICRO_FW_INPUT_SIZE {macro}_INPUT_SIZE",
        f"#define MBMICRO_FW_OUTPUT_SIZE {macro}_OUTPUT_SIZE", f"#define MBMICRO_FW_NUM_LAYERS {macro}_NUM_LAYERS",
        f"#define MBMICRO_FW_RUN {prefix}_run", ""]))
    return folder


def build_serve_image(build: Path, out: Path, profile: bool = False) -> Path:
    """Compile and link the serve image for ``build``'s model; returns the ELF."""
    sources, includes = model_sources(build)
    markers = next(p for p in (includes[0] / "mbmicro_hooks.c", build / "mbmicro_hooks.c") if p.is_file())
    hooks = [] if profile else [markers]  # cycles.c has them with MBMICRO_PROFILE
    binding = model_binding(build, out.parent / f"{out.stem}-include")
    cmd = ["arm-none-eabi-gcc", *CFLAGS, *(["-DMBMICRO_PROFILE"] if profile else []),
           f"-I{IMAGE}", f"-I{binding}", f"-I{COMMON}", *(f"-I{p}" for p in includes),
           *(str(IMAGE / n) for n in ("vectors.c", "usart1.c", "cycles.c", "main.c")),
           str(COMMON / "console_serve.c"),
           *map(str, hooks), *map(str, sources),
           "-T", str(IMAGE / "link.ld"), "-nostartfiles", "-nostdlib", "-Wl,--gc-sections", "-lc", "-lgcc",
           "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
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
