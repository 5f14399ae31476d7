"""`mbmicro run/verify/profile --on-device` against QEMU netduinoplus2 (tests/flash_harness.py).

The board firmware's serve variants (targets/common/fw_main.c + console_serve.c) run a
netduinoplus2 build's model; the host side (mbmicro/sim/device.py) reaches its USART1 as
socket://127.0.0.1:PORT, exactly as it reaches a board's /dev/ttyACM0.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import zlib

import numpy as np
import pytest

from flash_harness import MODEL, free_port, netduino_firmware_build, qemu_netduino
from test_json_output import validate
from mbmicro.cli import main
from mbmicro.codegen.report_layers import profiled_steps
from mbmicro.reference.int8 import run_int8
from mbmicro.sim import device
from mbmicro.sim.build_folder import load_build_folder

@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return netduino_firmware_build(tmp_path_factory.mktemp("on-device") / "netduino")


@pytest.fixture(scope="module")
def image(build):
    return build / "firmware" / "app_serve.elf"


@pytest.fixture(scope="module")
def profile_image(build):
    return build / "firmware" / "app_serve_profile.elf"


def test_run_on_device_equals_reference(build, image, tmp_path, capsys):
    folder = load_build_folder(build, need_graph=True)
    x = np.random.default_rng(5).integers(-128, 128, size=folder.input.shape, dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    with qemu_netduino(kernel=image) as (url, _):
        assert main(["run", str(build), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                     "--on-device", "--serial", url, "--timeout", "20"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), run_int8(folder.graph, x))
    assert "wrote" in capsys.readouterr().out


def test_verify_on_device(build, image, capsys):
    with qemu_netduino(kernel=image) as (url, _):
        assert main(["verify", str(build), "--on-device", "--serial", url, "--count", "2", "--timeout", "20"]) == 0
    assert "verified 2/2 inputs bit-exact on the device" in capsys.readouterr().out


def test_protocol_replies(build, image):
    """INFO gives the sizes; a wrong length, bad hex, a wrong checksum and words too long for the
    device's word buffer are refused, and the device keeps serving after each (one reply per
    request, in order, and the good request at the end is answered)."""
    folder = load_build_folder(build)
    n = folder.input.nbytes
    data = bytes(range(256)) * (n // 256) + bytes(n % 256)
    crc = f"{zlib.crc32(data):08x}"
    with qemu_netduino(kernel=image) as (url, _), device.open_console(url) as link:
        board = device.Device(link, url, timeout=20)
        layers = len(json.loads((build / "report.json").read_text())["layers"])
        assert board.info() == device.DeviceInfo(n, folder.output.nbytes, layers, False)
        lines = board.lines
        for request, reason in [(f"MBMICRO IN {n + 1} {crc} 00", "length"),
                                (f"MBMICRO IN {n} {crc} {'zz' * n}", "data: not hex"),
                                (f"MBMICRO IN {n} {crc} {data.hex()}00", "data: more hex"),
                                (f"MBMICRO IN {n} {crc} {data.hex()[:-2]}", "data: fewer"),
                                (f"MBMICRO IN {n} {zlib.crc32(data) ^ 1:08x} {data.hex()}", "crc32: the data"),
                                (f"MBMICRO IN {'9' * 40} {crc} {data.hex()}", "length: expected"),
                                ("X" * 40 + " MBMICRO INFO", "request: expected a line"),
                                ("MBMICRO " + "I" * 40, "request: expected MBMICRO INFO"),
                                ("HELLO", "request"), ("MBMICRO RUN", "request")]:
            lines.write(request + "\n")
            reply = lines.readline(deadline=time.monotonic() + 20)
            assert reply is not None and reply.startswith(f"MBMICRO ERR {reason}"), (request[:40], reply)
        result = board.infer(np.frombuffer(data, dtype=np.int8), folder.output.nbytes)
    assert result.rc == 0 and result.layer_cycles == []
    want = run_int8(load_build_folder(build, need_graph=True).graph,
                    np.frombuffer(data, dtype=np.int8).reshape(folder.input.shape))
    assert result.output == want.tobytes()


def test_profile_on_device(build, profile_image, capsys):
    """The serve-profile variant sends one cycles line per layer of report.json (QEMU: 0 cycles each);
    a fused region's are summed into one step, as the QEMU profile shows it."""
    with qemu_netduino(kernel=profile_image) as (url, _):
        assert main(["profile", str(build), "--on-device", "--serial", url, "--json", "--timeout", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    validate("profile", result)
    report = json.loads((build / "report.json").read_text())
    assert [r["name"] for r in result["layers"]] == [s["name"] for s in profiled_steps(report["layers"])]
    assert any(r["name"].startswith("[fused] ") for r in result["layers"])  # the default build fuses
    assert all(r["cycles"] == 0 for r in result["layers"])  # QEMU models no DWT
    # the measured cycles went into the folder's report too (docs/REPORT.md): a region's on its last layer
    assert report["profile"]["port"] == result["port"]
    assert all(x["cycles"] == 0 or (x["cycles"] is None and x.get("fused_region") is not None)
               for x in report["layers"])
    assert "| cycles (device) | cycles/MAC |" in (build / "report.md").read_text()
    assert (build / "report_profile.png").is_file()


def test_profile_needs_the_profile_firmware(build, image, capsys):
    with qemu_netduino(kernel=image) as (url, _):
        assert main(["profile", str(build), "--on-device", "--serial", url, "--timeout", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: ") and "without MBMICRO_PROFILE" in err and err.count("\n") == 1


def test_no_device_on_the_port(build, capsys):
    """Nothing listens on the port, a port that does not exist, a device that never answers: one line, exit 2."""
    url = f"socket://127.0.0.1:{free_port()}"
    assert main(["verify", str(build), "--on-device", "--serial", url]) == 2
    assert capsys.readouterr().err.startswith(f"mbmicro: error: no device on {url}")
    assert main(["verify", str(build), "--on-device", "--serial", "/dev/no-such-tty"]) == 2
    assert capsys.readouterr().err.startswith("mbmicro: error: no device on /dev/no-such-tty")
    with qemu_netduino(gdb=True) as (url, _):  # halted (-S), waiting for a debugger: never answers
        assert main(["verify", str(build), "--on-device", "--serial", url, "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mbmicro: error: no reply from a device on {url} within 2 s") and err.count("\n") == 1


def test_other_model_on_the_device(build, image, tmp_path, capsys):
    """A board running another model (other input size) is named before any input is sent: a build
    folder that differs only in its input shape (run reads build.json, not the graph)."""
    other = tmp_path / "other"
    other.mkdir()
    doc = json.loads((build / "build.json").read_text())
    doc["input"]["shape"], doc["files"] = [1, 8, 8, 3], ["build.json"]
    (other / "build.json").write_text(json.dumps(doc))
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8, 3), np.int8))
    with qemu_netduino(kernel=image) as (url, _):
        assert main(["run", str(other), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                     "--on-device", "--serial", url, "--timeout", "20"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mbmicro: error: the device on {url} runs another model (input 3072 B") and "192 B" in err
    assert not (tmp_path / "y.npy").exists()


def test_device_options_need_on_device(build, capsys):
    assert main(["verify", str(build), "--serial", "/dev/ttyACM0"]) == 2
    assert "--serial is for --on-device" in capsys.readouterr().err
    assert main(["verify", str(build), "--host", "pi@x"]) == 2
    assert "--host is for --on-device" in capsys.readouterr().err
    assert main(["verify", str(build), "--on-device", "--host", "pi@x"]) == 2
    assert "--host is for Raspberry Pi boards" in capsys.readouterr().err
    assert main(["verify", str(build), "--on-device", "--timeout", "nan"]) == 2
    assert "--timeout nan is invalid" in capsys.readouterr().err
    assert main(["verify", str(build), "--on-device", "--timeout", "0"]) == 2
    assert "--timeout 0 is invalid" in capsys.readouterr().err


FAKE_SSH = """#!/bin/sh
# ssh [-o OPT]... HOST COMMAND: runs COMMAND in $FAKE_PI_HOME, as a login shell on the Pi would
while [ "$1" = "-o" ]; do shift 2; done
shift
cd "$FAKE_PI_HOME" && exec sh -c "$*"
"""
FAKE_SCP = """#!/bin/sh
# scp [-o OPT]... FILE HOST:PATH: copies FILE to $FAKE_PI_HOME/PATH.bin, and PATH runs it in qemu-aarch64
while [ "$1" = "-o" ]; do shift 2; done
dst="$FAKE_PI_HOME/${2#*:}"
cp "$1" "$dst.bin" && printf '#!/bin/sh\\nexec qemu-aarch64 -cpu cortex-a53 %s "$@"\\n' "$dst.bin" > "$dst"
"""


def test_raspberry_pi_over_ssh(tmp_path, monkeypatch, capsys):
    """flash --host copies the program (scp, chmod over ssh), then verify --on-device --host runs it once per
    input over ssh (input on stdin, output on stdout) and compares bit for bit. ssh and scp are stand-ins
    that 'log in' to a folder and run the aarch64 program in qemu-aarch64: everything but the network."""
    bin_dir, home = tmp_path / "bin", tmp_path / "pi-home"
    bin_dir.mkdir()
    home.mkdir()
    for name, text in (("ssh", FAKE_SSH), ("scp", FAKE_SCP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PI_HOME", str(home))
    pi = tmp_path / "pi"
    assert main(["build", *MODEL, "--target", "raspberrypi3", "-o", str(pi)]) == 0
    subprocess.run(["make", "-C", str(pi)], check=True, capture_output=True, timeout=300)
    capsys.readouterr()
    assert main(["verify", str(pi), "--on-device", "--host", "pi@fake", "--count", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: the program on pi@fake failed") and "mbmicro flash" in err
    assert main(["flash", str(pi), "--host", "pi@fake"]) == 0
    assert (home / "mbmicro" / "app").is_file()
    assert main(["verify", str(pi), "--on-device", "--host", "pi@fake", "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact on the device (mobilenetv2, raspberrypi3, pi@fake)" in capsys.readouterr().out
    assert main(["verify", str(pi), "--on-device", "--count", "1"]) == 2
    assert "pass --host USER@HOST" in capsys.readouterr().err
    assert main(["profile", str(pi), "--on-device", "--host", "pi@fake"]) == 2
    assert "runs Linux" in capsys.readouterr().err
