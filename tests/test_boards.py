"""Boards (issue 10): every board folder loads as its core plus its own memory map, console
and probe; `mbmicro boards` lists them; --target BOARD builds with the board's budgets and a
bad name is one line. The firmware tests (OUT/firmware/) are in test_firmware.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mbmicro.cli import main as cli_main
from mbmicro.codegen.knobs import target_family
from mbmicro.errors import UserError
from mbmicro.sim import cycles
from mbmicro.targets import target as target_mod
from mbmicro.targets.target import board_names, core_names, load_target, targets_root

BOARDS = ["mps3-an547", "netduinoplus2", "nucleo-f412zg", "nucleo-h743zi", "nucleo-l4r5zi",
          "raspberrypi3", "raspberrypi4", "stm32f746g-disco"]
MCU_BOARDS = [b for b in BOARDS if not b.startswith("raspberrypi")]


def test_board_and_core_lists_are_disjoint_and_complete():
    assert board_names() == BOARDS
    assert core_names() == ["cortex-a53", "cortex-m4", "cortex-m55", "cortex-m7", "host"]


@pytest.mark.parametrize("name", BOARDS)
def test_board_loads_as_its_core_plus_its_block(name):
    t = load_target(name)
    core = load_target(t.core)
    assert t.is_board and not core.is_board and t.kind == "board"
    assert t.core_folder == core.folder and t.folder == targets_root() / name
    assert t.cc == core.cc and t.features == core.features and t.tvm_target == core.tvm_target
    assert target_family(t) == t.core  # the core's kernels and knobs
    assert cycles.table_path(t) == core.folder / "cycles.json" and cycles.load_table(t) is not None
    for f in t.extra.get("files", []):  # the core's start-up files, named from the board folder
        assert (t.folder / f).is_file(), f
    b = t.board
    assert b.clock_hz > 0 and b.mcu and b.title and b.clock_note
    # the description names where the memory map comes from
    assert any(src in t.description for src in ("RM0", "AN547", "BCM")), t.description


@pytest.mark.parametrize("name", MCU_BOARDS)
def test_mcu_board_budgets_are_its_memory_regions(name):
    t = load_target(name)
    mem = t.board.memory
    assert t.sram_bytes == mem["sram"].length and t.flash_bytes == mem["flash"].length
    assert t.board.deploy == "mcu"
    con = t.board.console
    assert con["driver"] in ("stm32_usart", "cmsdk_uart") and con["baud"] == 115200
    assert 0x40000000 <= con["base"] < 0x60000000  # a peripheral address, not memory
    assert not any(r.origin <= con["base"] < r.end for r in mem.values())
    if con["driver"] == "stm32_usart":
        assert con["layout"] in ("f4", "v2", "lpuart") and len(con["pins"]) == 2
        assert t.board.probe["openocd"] and t.board.probe["pyocd"]


def test_netduinoplus2_is_the_qemu_stm32f405():
    t = load_target("netduinoplus2")
    assert t.board.qemu_machine == "netduinoplus2"
    args = t.simulator["args"]
    assert args[args.index("-M") + 1] == "netduinoplus2"
    assert t.board.memory["flash"].origin == 0x08000000 and t.board.memory["sram"].length == 128 * 1024
    assert t.board.console["base"] == 0x40011000 and t.board.console["instance"] == "USART1"
    assert t.cflags == load_target("cortex-m4").cflags


def test_board_without_qemu_machine_runs_on_its_cores_machine():
    f412, m4 = load_target("nucleo-f412zg"), load_target("cortex-m4")
    assert f412.board.qemu_machine is None and f412.simulator == m4.simulator
    assert f412.sram_bytes == 256 * 1024


def test_raspberrypi4_overrides_the_a53_cpu():
    t = load_target("raspberrypi4")
    assert "-mcpu=cortex-a72" in t.cflags and t.simulator["args"] == ["-cpu", "cortex-a72"]
    assert t.board.deploy == "linux-ssh" and t.board.console is None and target_family(t) == "cortex-a53"


def test_boards_command_lists_every_board(capsys):
    assert cli_main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == BOARDS
    nd = next(r for r in rows if r["name"] == "netduinoplus2")
    assert nd == {"name": "netduinoplus2", "core": "cortex-m4", "mcu": "STM32F405RG", "title": "Netduino Plus 2",
                  "flash_bytes": 1 << 20, "sram_bytes": 128 << 10, "probe": "openocd/pyocd",
                  "qemu_machine": "netduinoplus2", "deploy": "mcu"}
    assert cli_main(["boards"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "core", "MCU", "flash", "SRAM", "probe", "QEMU"]
    f412 = next(line for line in table if line.startswith("nucleo-f412zg"))
    assert f412.split()[-1] == "-" and "256 KiB" in f412
    pi3 = next(line for line in table if line.startswith("raspberrypi3"))
    assert " ssh " in pi3


def test_targets_command_lists_cores_only(capsys):
    assert cli_main(["targets", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == core_names()


def test_unknown_board_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "b"
    assert cli_main(["build", "--model", "mobilenetv2", "--target", "nucleo-f999", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mbmicro: error: unknown target 'nucleo-f999'"), err
    assert "netduinoplus2" in err[0] and "mbmicro boards" in err[0]
    assert not out.exists()


def test_board_budget_refuses_a_model_that_fits_its_core(tmp_path, capsys):
    """The netduinoplus2's 128 KiB SRAM refuses what cortex-m4 (256 KiB) accepts: budgets come from the board.
    At 192x192 the input alone is 110,592 B, so even the fused min plan cannot fit 128 KiB."""
    from mbmicro.commands.build import estimate_or_retry
    from mbmicro.models.options import check_options

    estimate_or_retry(load_target("cortex-m4"), check_options("mobilenetv2", 0.35, 192, 10, 0), False, "balanced")
    args = ["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "192", "--classes", "10"]
    assert cli_main([*args, "--target", "netduinoplus2", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "does not fit netduinoplus2" in err and "131,072 B are available" in err


def _fake_root(tmp_path: Path, monkeypatch, board: dict) -> None:
    root = tmp_path / "targets"
    for name in ("cortex-m4", "common"):
        shutil.copytree(targets_root() / name, root / name)
    (root / "myboard").mkdir()
    (root / "myboard" / "target.json").write_text(json.dumps(board))
    monkeypatch.setattr(target_mod, "targets_root", lambda: root)


def _board_json() -> dict:
    return json.loads((targets_root() / "nucleo-f412zg" / "target.json").read_text()) | {"name": "myboard"}


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(core="cortex-m9"), '"core" must name a core folder'),
    (lambda d: d["board"].pop("console"), 'lacks console'),
    (lambda d: d["board"]["memory"].pop("sram"), 'needs "flash" and "sram"'),
    (lambda d: d["board"]["memory"]["flash"].update(origin="x"), "memory region 'flash' needs integer"),
    (lambda d: d["board"].update(deploy="usb-stick"), '"deploy" must be one of'),
])
def test_a_broken_board_folder_is_one_clear_error(tmp_path, monkeypatch, change, message):
    data = _board_json()
    change(data)
    _fake_root(tmp_path, monkeypatch, data)
    with pytest.raises(UserError, match=message):
        load_target("myboard")


def test_a_board_may_set_its_own_budgets(tmp_path, monkeypatch):
    data = _board_json() | {"sram_bytes": 65536}
    _fake_root(tmp_path, monkeypatch, data)
    t = load_target("myboard")
    assert t.sram_bytes == 65536 and t.flash_bytes == 1 << 20
