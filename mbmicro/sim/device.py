"""The host side of the on-device protocol (targets/common/console_serve.h): run a flashed model over its console.

Why pyserial's ``serial_for_url``: one call opens ``/dev/ttyACM0`` (a board's
ST-LINK or DAPLink virtual COM port) and ``socket://127.0.0.1:PORT`` (QEMU's
``-serial tcp:...``), so the tests drive exactly the code a board uses.

Why the host asks ``MBMICRO INFO`` first, and again until it is answered: the
board may still be booting or running its start-up inference when the port
opens, and a UART drops what arrives while the core is busy; the request is
repeated until one reply comes, and its sizes must be the build's, so a board
flashed with another model is named instead of returning wrong numbers.

Every failure a user can cause (no device on the port, no reply, a firmware
built without MBMICRO_SERVE, another model on the board) is a UserError.
"""

from __future__ import annotations

import contextlib
import re
import time
import zlib
from dataclasses import dataclass

import numpy as np

from mbmicro.errors import UserError
from mbmicro.units import format_bytes

#: The port a board's USB virtual COM port usually is on Linux (ST-LINK/V2-1, V3, DAPLink).
DEFAULT_PORT = "/dev/ttyACM0"
DEFAULT_BAUD = 115200
#: Seconds between two INFO requests while the device does not answer.
INFO_RETRY_S = 1.0
#: Longest reply line accepted: the output in hex and the fixed words (bounded so a babbling port ends).
MAX_LINE = 4 * 1024 * 1024

_INFO = re.compile(r"MBMICRO INFO in=(\d+) out=(\d+) layers=(\d+) profile=([01])")
_OUT = re.compile(r"MBMICRO OUT rc=(-?\d+) cycles=(\d+) crc32=([0-9a-f]{8}) out=([0-9a-f]*)")
_LAYER = re.compile(r"MBMICRO layer=(\d+) cycles=(\d+)")


@dataclass(frozen=True)
class DeviceInfo:
    """The INFO reply: the flashed model's input and output sizes, its layers, whether it profiles."""

    input_bytes: int
    output_bytes: int
    layers: int
    profile: bool


@dataclass(frozen=True)
class DeviceResult:
    """One inference on the device: the model's return code, its cycles and output, per-layer cycles."""

    rc: int
    cycles: int
    output: bytes
    layer_cycles: list[int]


def console_baud(folder) -> int:
    """The baud of the build's board console (target.json board.console.baud), else 115200.

    ``folder`` is a build folder path or a loaded BuildFolder."""
    from mbmicro.sim.build_folder import BuildFolder, load_build_folder
    from mbmicro.sim.probes import board_info

    built = folder if isinstance(folder, BuildFolder) else load_build_folder(folder)
    console = (board_info(built.target) or {}).get("console") or {}
    try:
        return int(console.get("baud", DEFAULT_BAUD))
    except (TypeError, ValueError):
        return DEFAULT_BAUD


@contextlib.contextmanager
def open_console(port: str, baud: int = DEFAULT_BAUD):
    """The serial port at ``port`` (a device path or a pyserial URL), closed after the block."""
    try:
        import serial
    except ImportError:
        raise UserError("pyserial is not installed: pip install pyserial") from None
    try:
        link = serial.serial_for_url(port, baudrate=baud, timeout=0.2, write_timeout=30)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise UserError(f"no device on {port} ({_reason(exc)}): connect the board and pass its port with "
                        f"--serial (e.g. {DEFAULT_PORT}, or socket://HOST:PORT for QEMU)") from None
    try:
        yield link
    finally:
        link.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:160]


class _Lines:
    """Reads lines from a serial port, each with a deadline; keeps the part of a line that came early."""

    def __init__(self, link, port: str):
        self.link, self.port, self.buffer = link, port, b""

    def readline(self, deadline: float) -> str | None:
        """The next line without its end, or None when ``deadline`` (time.monotonic) passed first."""
        import serial

        while b"\n" not in self.buffer:
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self.link.read(max(1, self.link.in_waiting or 1))
            except (serial.SerialException, OSError) as exc:
                raise UserError(f"the device on {self.port} went away ({_reason(exc)}): check the cable "
                                "(or that QEMU is still running) and try again") from None
            self.buffer += chunk
            if len(self.buffer) > MAX_LINE:
                raise UserError(f"the device on {self.port} sent a line longer than {format_bytes(MAX_LINE)}: "
                                "is the firmware an mbmicro board build? flash it with 'mbmicro flash DIR'")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", "replace").rstrip("\r")

    def write(self, text: str) -> None:
        import serial

        try:
            self.link.write(text.encode("ascii"))
            self.link.flush()
        except (serial.SerialException, OSError) as exc:
            raise UserError(f"cannot write to {self.port} ({_reason(exc)}): check the cable and the port") from None


def first_line(link, port: str, timeout: float) -> str:
    """The first ``MBMICRO`` line the firmware prints (its fixed line after a reset)."""
    lines = _Lines(link, port)
    deadline = time.monotonic() + timeout
    while True:
        line = lines.readline(deadline)
        if line is None:
            raise UserError(f"no MBMICRO line on {port} within {timeout:g} s after flashing: check that the "
                            "console is the board's (--serial) and that the firmware started")
        if line.startswith("MBMICRO"):
            return line.strip()


class Device:
    """A flashed board build answering console_serve.c's protocol on an open port."""

    def __init__(self, link, port: str, timeout: float):
        self.lines, self.port, self.timeout = _Lines(link, port), port, timeout
        self.reply: DeviceInfo | None = None  #: the INFO answer, once connect() checked it

    def info(self, folder: str = "DIR") -> DeviceInfo:
        """Ask MBMICRO INFO (repeated every INFO_RETRY_S) until it is answered or ``timeout`` passes;
        ``folder`` is the build the error message tells how to flash."""
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            self.lines.write("\nMBMICRO INFO\n")
            retry = min(end, time.monotonic() + INFO_RETRY_S)
            while (line := self.lines.readline(retry)) is not None:
                m = _INFO.fullmatch(line.strip())
                if m:
                    return DeviceInfo(int(m[1]), int(m[2]), int(m[3]), m[4] == "1")
        raise UserError(f"no reply from a device on {self.port} within {self.timeout:g} s: flash the build's "
                        f"serve firmware ('make -C {folder}/firmware serve', then 'mbmicro flash {folder} --elf "
                        "app_serve.elf') and check the port and baud")

    def check(self, folder) -> DeviceInfo:
        """INFO, and its sizes must be those of the build in ``folder`` (a BuildFolder)."""
        info = self.info(str(folder.path))
        want = (folder.input.nbytes, folder.output.nbytes)
        if (info.input_bytes, info.output_bytes) != want:
            raise UserError(f"the device on {self.port} runs another model (input {info.input_bytes} B, output "
                            f"{info.output_bytes} B; {folder.path} has {want[0]} B and {want[1]} B): flash this "
                            f"build first with 'mbmicro flash {folder.path} --elf app_serve.elf'")
        return info

    def infer(self, x_int8: np.ndarray, output_bytes: int) -> DeviceResult:
        """Send one int8 input, read the reply: per-layer cycles (profile builds) and the output."""
        data = np.ascontiguousarray(x_int8, dtype=np.int8).tobytes()
        self.lines.write(f"MBMICRO IN {len(data)} {zlib.crc32(data):08x} {data.hex()}\n")
        deadline = time.monotonic() + self.timeout
        layers: list[int] = []
        while True:
            line = self.lines.readline(deadline)
            if line is None:
                raise UserError(f"the device on {self.port} did not answer within {self.timeout:g} s: the model "
                                "may take longer (pass a larger --timeout) or the board stopped (reset it)")
            line = line.strip()
            if line.startswith("MBMICRO ERR "):
                raise UserError(f"the device on {self.port} refused the input ({line[12:]}): reflash the "
                                "build ('mbmicro flash DIR') and try again")
            if (m := _LAYER.fullmatch(line)) and int(m[1]) == len(layers):
                layers.append(int(m[2]))
            elif m := _OUT.fullmatch(line):
                return _result(m, output_bytes, layers, self.port)


def _result(m: re.Match, output_bytes: int, layers: list[int], port: str) -> DeviceResult:
    """The OUT line's fields, checked: the hex has the output's length and matches its checksum."""
    out = bytes.fromhex(m[4]) if len(m[4]) % 2 == 0 else b""
    if len(out) != output_bytes or zlib.crc32(out) != int(m[3], 16):
        raise UserError(f"the device on {port} sent a damaged output ({len(m[4]) // 2} bytes, checksum "
                        f"{'ok' if zlib.crc32(out) == int(m[3], 16) else 'wrong'}; {output_bytes} bytes "
                        "expected): check the cable and try again")
    return DeviceResult(int(m[1]), int(m[2]), out, layers)


class SshDevice:
    """A Raspberry Pi board: the build's test program, copied by 'mbmicro flash --host', run over ssh.

    Same ``infer`` as :class:`Device`; there is no console protocol (the
    program runs once per input), so no INFO, no cycles and no layers."""

    reply = None

    def __init__(self, folder, host: str, timeout: float):
        self.folder, self.port, self.timeout = folder, host, timeout

    def infer(self, x_int8: np.ndarray, output_bytes: int) -> DeviceResult:
        import subprocess

        from mbmicro.processes import run_child
        from mbmicro.sim.probes import ssh_run_command

        data = np.ascontiguousarray(x_int8, dtype=np.int8).tobytes()
        cmd = ssh_run_command(self.port, self.folder.exe("all").name)
        try:
            done = run_child(cmd, input=data, timeout=self.timeout)
        except FileNotFoundError:
            raise UserError("ssh is not installed: apt-get install openssh-client") from None
        except subprocess.TimeoutExpired:
            raise UserError(f"the program on {self.port} did not finish within {self.timeout:g} s: pass a "
                            "larger --timeout, or check the board") from None
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1][:200]
        if done.returncode == 255:
            raise UserError(f"ssh to {self.port} failed ({last}): check the name and that ssh logs in "
                            "without a password prompt (a key: ssh-copy-id)")
        if done.returncode != 0:
            raise UserError(f"the program on {self.port} failed (exit {done.returncode}: {last}): copy this "
                            f"build's program there with 'mbmicro flash {self.folder.path} --host {self.port}'")
        if len(done.stdout) != output_bytes:
            raise UserError(f"the program on {self.port} wrote {len(done.stdout)} bytes, not the model's "
                            f"{output_bytes}: copy this build's program there with 'mbmicro flash "
                            f"{self.folder.path} --host {self.port}'")
        return DeviceResult(0, 0, done.stdout, [])


def deploys_over_ssh(folder) -> bool:
    """The build is for a board deployed over ssh (target.json "deploy": "linux-ssh")."""
    from mbmicro.sim.probes import board_info

    return (board_info(folder.target) or {}).get("deploy") == "linux-ssh"


@contextlib.contextmanager
def connect(folder, port: str | None, timeout: float, host: str | None = None):
    """A Device for the build ``folder`` (a BuildFolder): on the console ``port``, checked with INFO,
    or, for a Raspberry Pi board, an SshDevice on ``host``."""
    if deploys_over_ssh(folder):
        if host is None:
            raise UserError(f"board '{folder.target.name}' is reached over ssh: pass --host USER@HOST "
                            "(the one 'mbmicro flash --host' copied the program to)")
        if port is not None:
            raise UserError(f"board '{folder.target.name}' has no console to talk to: drop --serial")
        from mbmicro.sim.probes import check_host

        yield SshDevice(folder, check_host(host), timeout)
        return
    if host is not None:
        raise UserError("--host is for Raspberry Pi boards (deployed over ssh); this build runs on a console: "
                        "pass --serial PORT instead")
    port = port or DEFAULT_PORT
    with open_console(port, console_baud(folder)) as link:
        device = Device(link, port, timeout)
        device.reply = device.check(folder)
        yield device


def run_on_device(device: Device, folder, x_int8: np.ndarray) -> tuple[np.ndarray, DeviceResult]:
    """One inference: the output as an int8 array of the build's output shape, and the raw result."""
    result = device.infer(x_int8, folder.output.nbytes)
    if result.rc != 0:
        raise UserError(f"the model on the device returned {result.rc}: rebuild and reflash the firmware")
    y = np.frombuffer(result.output, dtype=np.int8).reshape(folder.output.shape).copy()
    return y, result
