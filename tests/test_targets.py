"""The ARM targets: descriptions load, `mbmicro targets` lists them, and a small C program
built with each target's own compiler, flags and start-up files runs in its QEMU with the
right output bytes and exit status. Also: fault reporting and the linker-enforced budgets.

build_program() below does what the build folder's Makefile does (copy target.json
"files" flat into the folder, linker scripts with their budgets filled in, then `$(CC) $(CFLAGS) *.c *.S $(LDFLAGS) -o EXE`);
test_qemu.py reuses it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mbmicro.formats import elf
from mbmicro.sim import qemu
from mbmicro.codegen import link_script
from mbmicro.cli import main as cli_main
from mbmicro.targets.target import Target, load_target, target_names

DATA = Path(__file__).parent / "data"
ARM_TARGETS = ["cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53"]
M_TARGETS = ["cortex-m4", "cortex-m7", "cortex-m55"]


def build_program(target: Target, sources: list[Path], folder: Path, defines: tuple[str, ...] = (),
                  check: bool = True) -> subprocess.CompletedProcess:
    """Copy the target's files and ``sources`` into ``folder`` and link ``exe`` there."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in target.extra["files"]:
        src = target.folder / name
        if src.suffix == ".ld":  # budgets filled in, as codegen/project.py does
            (folder / src.name).write_text(link_script.render(src.read_text(), target))
        else:
            shutil.copy(src, folder / src.name)
    for src in sources:
        shutil.copy(src, folder / src.name)
    compiled = sorted(p.name for p in folder.iterdir() if p.suffix in (".c", ".S"))
    cmd = [target.cc, *target.cflags, *defines, *compiled, *target.ldflags, "-o", target.extra["exe"]]
    result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stderr}"
    return result


def test_targets_command_lists_five(capsys):
    assert cli_main(["targets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == sorted(ARM_TARGETS + ["host"])
    by_name = {r["name"]: r for r in rows}
    assert by_name["cortex-m4"]["sram_bytes"] == 256 * 1024
    assert by_name["cortex-m55"]["simulator"] == "qemu-system-arm -M mps3-an547"

    assert cli_main(["targets"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "core", "board", "SRAM", "flash", "simulator"]
    m7 = next(line for line in table if line.startswith("cortex-m7"))
    assert "320 KiB" in m7 and "1 MiB" in m7 and "mps2-an500" in m7


@pytest.mark.parametrize("name", ARM_TARGETS)
def test_target_json_loads(name):
    assert name in target_names()
    t = load_target(name)
    assert t.name == name and t.extra["core"] == name
    assert t.tvm_target == {"kind": "c"}
    assert t.simulator["kind"] in ("qemu-system", "qemu-user")
    for f in t.extra["files"]:
        assert (t.folder / f).is_file(), f
    assert shutil.which(t.cc) and shutil.which(t.simulator["binary"])
    assert ("mve" in t.features) == (name == "cortex-m55")


@pytest.mark.parametrize("name", ARM_TARGETS)
def test_smoke_program_runs(name, tmp_path):
    target = load_target(name)
    build_program(target, sorted((DATA / "arm_smoke").glob("*.c")), tmp_path)
    data = bytes(range(256)) * 3
    (tmp_path / "in.bin").write_bytes(data)
    result = qemu.run(target, tmp_path / target.extra["exe"], ["in.bin", "out.bin"], cwd=tmp_path, timeout=60)
    assert result.returncode == 3, result.stderr
    assert b"smoke: 768 bytes" in result.stdout
    signed = [b - 256 if b > 127 else b for b in data]
    expected = bytes((max(-128, min(127, 2 * v - 7))) & 0xFF for v in signed)
    assert (tmp_path / "out.bin").read_bytes() == expected


@pytest.mark.parametrize("name", M_TARGETS)
def test_fault_is_reported_not_hung(name, tmp_path):
    target = load_target(name)
    build_program(target, [DATA / "arm_fault" / "fault.c"], tmp_path)
    result = qemu.run(target, tmp_path / target.extra["exe"], [], cwd=tmp_path, timeout=30)
    assert result.returncode == 139
    assert b"mbmicro: fault: exception 0x00000003" in result.stdout + result.stderr  # HardFault


def _link_budget(target: Target, folder: Path, arena: int, weights: int) -> subprocess.CompletedProcess:
    return build_program(target, [DATA / "arm_budget" / "budget.c"], folder,
                         (f"-DARENA_BYTES={arena}", f"-DWEIGHT_BYTES={weights}"), check=False)


@pytest.mark.parametrize("name", M_TARGETS)
def test_linker_enforces_board_budgets(name, tmp_path):
    """An arena or weight table just inside the budgets links; one the size of the whole
    budget does not (start-up, stack and heap need some of it): proof that the linker
    script regions are exactly target.json's sram_bytes / flash_bytes."""
    target = load_target(name)
    reserved = target.extra["stack_bytes"] + target.extra["heap_bytes"]
    ok = _link_budget(target, tmp_path / "fits", target.sram_bytes - reserved - 8192, target.flash_bytes - 65536)
    assert ok.returncode == 0, ok.stderr
    ram = _link_budget(target, tmp_path / "ram", target.sram_bytes, 1024)
    assert ram.returncode != 0 and "region `SRAM' overflowed" in ram.stderr
    flash = _link_budget(target, tmp_path / "flash", 1024, target.flash_bytes)
    assert flash.returncode != 0 and "region `FLASH' overflowed" in flash.stderr


@pytest.mark.parametrize("name", M_TARGETS)
def test_stack_and_heap_match_target_json(name, tmp_path):
    target = load_target(name)
    build_program(target, [DATA / "arm_fault" / "fault.c"], tmp_path)
    sym = {name: s.address for name, s in elf.symbols(tmp_path / target.extra["exe"]).items()}
    assert sym["__stack_top"] - sym["__stack_limit"] == target.extra["stack_bytes"]
    assert sym["__heap_end"] - sym["__heap_start"] == target.extra["heap_bytes"]
