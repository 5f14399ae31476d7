"""The model's own flash and SRAM in the report (docs/REPORT.md) and the ELF reader they come from.

- mbmicro.formats.elf against the toolchain's own tools: section sizes equal
  ``arm-none-eabi-size`` (per section and the Berkeley totals) on an object and on a linked
  image, symbols equal ``arm-none-eabi-nm -S``;
- report.json's ``model`` and ``test_program`` sections add up from their parts, report.md
  shows them, and the painted stack recorded by ``mbmicro profile`` updates both files;
- without the cross compiler nothing is estimated: the code is "not measured", the fit check
  leaves it out and says so (the compiler is hidden from PATH);
- a model whose stack chain exceeds the test program's stack is refused.

The toy graph with fake kernels (test_build_host) keeps the builds to a second or two; the
painted stack of real kernels in QEMU is checked in test_arm_models.py (M4 and A53).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mbmicro.codegen import report
from mbmicro.codegen.project import build_project
from mbmicro.errors import UserError
from mbmicro.formats import elf
from mbmicro.sim import painted_stack
from mbmicro.targets import budgets
from mbmicro.targets.target import load_target
from test_build_host import fake_lower, toy_graph
from test_targets import build_program

DATA = Path(__file__).resolve().parent / "data" / "elf_sections"
M4 = load_target("cortex-m4")


def _size_table(path: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", "-A", str(path)], capture_output=True, text=True, check=True).stdout
    return {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines())
            if len(p) == 3 and p[0].startswith(".") and p[1].isdigit()}


def _berkeley(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(["arm-none-eabi-size", str(path)], capture_output=True, text=True, check=True).stdout
    text, data, bss = out.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


@pytest.fixture(scope="module")
def arm_files(tmp_path_factory) -> tuple[Path, Path]:
    """(an object, a linked Cortex-M4 image) made from tests/data/elf_sections/sections.c."""
    folder = tmp_path_factory.mktemp("elf")
    obj = folder / "sections.o"
    subprocess.run([M4.cc, *M4.cflags, "-c", "-o", str(obj), str(DATA / "sections.c")], check=True)
    build_program(M4, [DATA / "sections.c"], folder / "linked")
    return obj, folder / "linked" / M4.extra["exe"]


@pytest.mark.parametrize("which", ["object", "linked"])
def test_elf_sizes_equal_arm_none_eabi_size(arm_files, which):
    path = arm_files[0 if which == "object" else 1]
    sizes = elf.sizes(path)
    table = _size_table(path)
    assert {name: n for name, (n, _) in sizes.sections.items()} == {
        name: n for name, n in table.items() if name in sizes.sections}
    assert all(name not in sizes.sections for name in (".comment", ".ARM.attributes"))
    assert (sizes.text + sizes.rodata, sizes.data, sizes.bss) == _berkeley(path)
    if which == "object":  # the test file's own arrays, kind by kind
        assert (sizes.rodata, sizes.data, sizes.bss) == (300, 28 + 4, 1000 + 4) and sizes.text > 0


def test_elf_symbols_equal_arm_none_eabi_nm(arm_files):
    _, image = arm_files
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(image)], capture_output=True, text=True, check=True).stdout
    nm = {p[3]: (int(p[0], 16), int(p[1], 16)) for p in (ln.split() for ln in out.splitlines()) if len(p) == 4}
    table = elf.symbols(image)
    for name in ("table", "counters", "scratch", "mix", "main"):  # nm clears a Thumb function's bit 0
        assert (table[name].address & ~1, table[name].size) == nm[name], name
    assert table["mix"].kind == "STT_FUNC" and table["mix"].address & 1  # what qemu.marker_addresses clears
    assert table["scratch"].section == ".bss" and table["table"].section == ".rodata"


def test_elf_reader_refuses_other_files(tmp_path):
    (tmp_path / "x.o").write_bytes(b"not an ELF file at all")
    with pytest.raises(ValueError, match="is not an ELF file"):
        elf.sizes(tmp_path / "x.o")


def _toy(out: Path, target=M4) -> dict:
    return build_project(toy_graph(), target, out, prefix="toy_net", force=False,
                         info={"model": "toy-net", "options": {}}, lower=fake_lower)


@pytest.fixture(scope="module")
def toy_m4(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mem") / "toy"
    _toy(out)
    return out


def test_report_has_the_model_and_the_test_program_apart(toy_m4):
    """model = arena + I/O + stack + static data (SRAM) and weights + code + constants (flash),
    measured from the objects; the test program's allowances and totals apart; md shows both."""
    r = json.loads((toy_m4 / "report.json").read_text())
    m, s, f = r["model"], r["model"]["sram"], r["model"]["flash"]
    assert r["model_name"] == "toy-net" and m["measured"] and m["method"].startswith("measured: ELF sections")
    assert s["arena_bytes"] == r["arena_bytes"] and s["arena_static"] and s["io_bytes"] == r["memory"]["io_bytes"] > 0
    assert s["stack_compiler_bytes"] == r["model_stack"]["bytes"] and s["stack_painted_bytes"] is None
    assert m["sram_peak_bytes"] == s["arena_bytes"] + s["io_bytes"] + s["stack_bytes"] + s["static_bytes"]
    assert f["weights_bytes"] == r["weights_bytes"] and f["code_bytes"] == r["code_bytes"] > 0
    assert m["flash_bytes"] == f["weights_bytes"] + f["code_bytes"] + f["constants_bytes"]
    objects = [toy_m4 / n for n in ("toy_net_model.o", "toy_net_kernels.o", "toy_net_weights.o")]
    total = elf.total_sizes(objects)
    assert m["flash_bytes"] == total.flash and s["static_bytes"] == total.ram - s["arena_bytes"]
    prog = r["test_program"]
    assert {k: prog[k] for k in budgets.reserve(M4)} == budgets.reserve(M4)
    assert prog["sram_needed_bytes"] == (s["arena_bytes"] + s["io_bytes"] + s["static_bytes"] + prog["stack_bytes"]
                                         + prog["heap_bytes"] + prog["runtime_sram_bytes"])
    assert prog["flash_needed_bytes"] == m["flash_bytes"] + prog["runtime_flash_bytes"]
    md = (toy_m4 / "report.md").read_text()
    assert f"| model SRAM (peak) | {m['sram_peak_bytes']:,} B / 262,144 B" in md
    assert "painted: not yet measured (`mbmicro profile`)" in md
    assert f"| model flash | {m['flash_bytes']:,} B / 1,048,576 B" in md
    assert f"| test program SRAM needed / available | {prog['sram_needed_bytes']:,} B" in md


def test_painted_stack_goes_beside_the_compiler_bound(toy_m4):
    """report.with_painted_stack (what 'mbmicro profile' draws the report from): the SRAM peak
    takes the larger stack; an 'at most' mark at the floor never raises it; md says which."""
    before = json.loads((toy_m4 / "report.json").read_text())
    bound = before["model"]["sram"]["stack_compiler_bytes"]
    deeper = report.with_painted_stack(before, bound + 100, 7000, 60)
    m = deeper["model"]
    assert m["sram"]["stack_painted_bytes"] == bound + 100 == m["sram"]["stack_bytes"]
    assert m["sram_peak_bytes"] == before["model"]["sram_peak_bytes"] + 100
    assert before["model"]["sram"]["stack_painted_bytes"] is None  # the report given is not changed
    md = report.render_md(deeper)
    assert f"| model SRAM (peak) | {m['sram_peak_bytes']:,} B" in md and f"painted {bound + 100:,})" in md
    shallower = report.with_painted_stack(before, 8, 7000, 4)["model"]
    assert shallower["sram_peak_bytes"] == before["model"]["sram_peak_bytes"]  # the compiler's bound is larger
    at_floor = report.with_painted_stack(before, bound + 100, 7000, bound + 100)
    assert at_floor["model"]["sram"]["stack_bytes"] == bound
    assert f"painted at most {bound + 100:,})" in report.render_md(at_floor)
    assert "painted at least 7,000)" in report.render_md(report.with_painted_stack(before, 7000, 7000, 60))
    assert report.with_painted_stack({"model": "an older report"}, 1, 2, 0) == {"model": "an older report"}


def test_stack_line_of_the_profile_program():
    line = painted_stack.parse("hello\nMBMICRO STACK used=2840 window=7600 floor=68\n")
    assert line == painted_stack.PaintedStack(2840, 7600, 68) and not line.overflowed and not line.untouched
    assert painted_stack.parse("MBMICRO STACK used=9 window=9 floor=4\r\n").overflowed
    assert painted_stack.parse("MBMICRO STACK used=68 window=7600 floor=68\n").untouched
    assert painted_stack.parse("no stack line\n") is None


def test_without_the_compiler_nothing_is_estimated(tmp_path, monkeypatch):
    """arm-none-eabi-gcc hidden from PATH: the code is 'not measured' everywhere it appears, the
    flash need is weights + runtime exactly (no guessed code), and a refusal says so."""
    tools = tmp_path / "bin"
    tools.mkdir()
    os.symlink(shutil.which("make"), tools / "make")
    monkeypatch.setenv("PATH", str(tools))
    rep = _toy(tmp_path / "b")
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert rep["code_bytes"] is None and r["code_bytes"] is None and "not installed" in r["code_bytes_method"]
    assert r["model"]["measured"] is False and r["model"]["sram_peak_bytes"] is None and r["model"]["flash_bytes"] is None
    need = r["memory"]
    assert need["measured"] is False and need["code_bytes"] is None
    assert need["flash_needed_bytes"] == r["weights_bytes"] + budgets.reserve(M4)["runtime_flash_bytes"]
    md = (tmp_path / "b" / "report.md").read_text()
    assert "| model flash | at least" in md and "code not measured: arm-none-eabi-gcc is not installed" in md
    assert "| test program flash needed / available | at least" in md
    small = budgets.with_budgets(M4, flash=budgets.reserve(M4)["runtime_flash_bytes"] + r["weights_bytes"] - 1)
    # refused on weights + runtime alone, with no guessed code size in the sum
    with pytest.raises(UserError, match=r"B flash or more \(weights [\d,]+ \+ code not (yet compiled|measured) \+ runtime"):
        _toy(tmp_path / "c", small)
    assert not (tmp_path / "c").exists()


def test_a_stack_chain_deeper_than_the_program_stack_is_refused():
    need = budgets.requirements(M4, 1000, 10, 2000, 500, model_stack=M4.extra["stack_bytes"] + 1)
    with pytest.raises(UserError, match="worst call chain needs 8,193 B of stack .* stack is 8,192 B"):
        budgets.check(need, M4, "toy")
    budgets.check(budgets.requirements(M4, 1000, 10, 2000, 500, model_stack=8192), M4, "toy")
