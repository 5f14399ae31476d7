"""Real models on the ARM cores: built, run in QEMU and compared bit for bit with the
int8 reference; profiles that repeat exactly; memory budgets that refuse what does not
fit the board and that the linked image obeys.

Why different models per core: each build is ~15-40 s, so instead of one model on every
core, every core gets a different model and the suite covers four model families
(inverted residual, hard-swish + SE, SE + swish, mixed kernels) for the time of four
builds.  MATRIX below adds every other Table A model on the Cortex-M4 and the
Cortex-A53 (CI has room for it: ~6 min on 2 cores); benchmarks/targets.py runs the full
model x core matrix.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from mbmicro.cli import main
from mbmicro.codegen.project import executable_names
from mbmicro.commands.profile import add_to_report, profile, profiled_steps
from mbmicro.formats import elf
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.targets.target import load_target

SMALL = ["--width", "0.35", "--resolution", "96", "--classes", "10"]
#: model per core (config SMALL): four families for the time of four builds
CORE_MODELS = {"cortex-m4": "mobilenetv2", "cortex-m7": "mobilenetv3-large", "cortex-m55": "efficientnet-b0",
               "cortex-a53": "mixnet-m"}
#: every model on the smallest Cortex-M and on the A53 (the other cores: benchmarks/targets.py)
MATRIX = [(model, core) for core in ("cortex-m4", "cortex-a53") for model in MODEL_NAMES
          if CORE_MODELS[core] != model]
#: per-model config that fits a 256 KiB SRAM / 1 MiB flash Cortex-M4 (the smallest board);
#: models whose fixed-width head and classifier make 0.35/96 too big for 1 MiB get width 0.25;
#: ReXNet keeps its 32-channel stem and 16-channel first block at every width below 1 (timm's
#: rexnet_100), so its 96-channel s2b1 expansion at 48x48 needs 276 KB of arena at 96 px: 80 px
CONFIGS = {m: SMALL for m in ["mobilenetv2", "mnasnet-a1", "mnasnet-b1", "fbnet-b", "fbnet-c", "proxyless-r",
                             "single-path-nas", "efficientnet-b0"]}
CONFIGS.update({m: ["--width", "0.25", "--resolution", "96", "--classes", "10"]
                for m in ["mobilenetv3-large", "mixnet-m"]})
CONFIGS["rexnet"] = ["--width", "0.35", "--resolution", "80", "--classes", "10"]


def build_and_verify(model: str, core: str, folder: Path, extra: list[str] | None = None) -> Path:
    assert main(["build", "--model", model, "--target", core, "-o", str(folder), *(extra or SMALL)]) == 0
    assert main(["verify", str(folder), "--count", "2"]) == 0
    return folder


@pytest.fixture(scope="module", params=list(CORE_MODELS))
def core_build(request, tmp_path_factory):
    core = request.param
    folder = tmp_path_factory.mktemp(core) / "build"
    return core, build_and_verify(CORE_MODELS[core], core, folder, CONFIGS[CORE_MODELS[core]])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: ") and err.count("\n") == 1, err
    return err


def test_model_is_bit_exact_in_qemu(core_build):
    """The fixture built and verified (2 inputs); the report records the budgets it was checked with."""
    core, folder = core_build
    report = json.loads((folder / "report.json").read_text())
    target = load_target(core)
    m = report["memory"]
    assert m["sram_budget_bytes"] == target.sram_bytes and m["flash_budget_bytes"] == target.flash_bytes
    assert m["arena_bytes"] == report["arena_bytes"] and m["code_bytes"] == report["code_bytes"]
    assert m["sram_needed_bytes"] <= m["sram_budget_bytes"] and m["flash_needed_bytes"] <= m["flash_budget_bytes"]
    assert "SRAM needed / available" in (folder / "report.md").read_text()


def _link_with_map(folder: Path, target) -> str:
    """Relink the app (only the link: -W link.ld) with a map file; returns the map's text."""
    exe = executable_names(target)["all"]
    ldflags = " ".join([*target.ldflags, "-Wl,-Map=app.map"])
    done = subprocess.run(["make", "-s", "-W", "link.ld", exe, f"LDFLAGS={ldflags}"], cwd=folder,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return (folder / "app.map").read_text()


def _section_use(folder: Path, target, exe: str) -> dict[str, tuple[int, int]]:
    """(bytes, address) of each section the linked image puts in memory (at a nonzero address)."""
    return {name: (n, addr) for name, (n, addr) in elf.sizes(folder / exe).sections.items() if addr}


BARE_METAL = [core for core in CORE_MODELS if load_target(core).simulator["kind"] == "qemu-system"]


@pytest.mark.parametrize("core_build", BARE_METAL, indirect=True)
def test_linked_image_obeys_the_budgets(core_build):
    """The map's SRAM/FLASH regions are the budgets, and what the image puts in them is no
    more than the build's own estimate (arena + I/O + runtime reserve; weights + code + runtime):
    the runtime allowances in target.json are honest."""
    core, folder = core_build
    target = load_target(core)
    text = _link_with_map(folder, target)
    regions = {m.group(1): (int(m.group(2), 16), int(m.group(3), 16))
               for m in re.finditer(r"^(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", text.split("Linker script")[0], re.M)}
    vectors = regions["VECTORS"][1] if "VECTORS" in regions else 0
    assert regions["SRAM"][1] == target.sram_bytes
    assert regions["FLASH"][1] + vectors == target.flash_bytes
    memory = json.loads((folder / "report.json").read_text())["memory"]
    sections = _section_use(folder, target, executable_names(target)["all"])
    sram_lo = regions["SRAM"][0]
    in_sram = sum(n for name, (n, addr) in sections.items() if sram_lo <= addr < sram_lo + target.sram_bytes)
    in_flash = sum(n for name, (n, addr) in sections.items() if not sram_lo <= addr < sram_lo + target.sram_bytes)
    in_flash += sections[".data"][0]  # its initial image is stored in flash too
    assert in_sram <= memory["sram_needed_bytes"] <= in_sram + 8192
    assert in_flash <= memory["flash_needed_bytes"] <= in_flash + 8192


#: bytes the painted stack may exceed the compiler's bound by: the profile build's model C calls
#: the layer markers, which may cost its frames a register save or two
PAINT_SLACK = 32


def _check_painted_stack(folder: Path, result: dict) -> None:
    """The stack painted in QEMU lies between the largest kernel scratch (which is on the stack)
    and the compiler's worst chain + slack, and report.json/md hold it beside that bound
    (written by add_to_report, as 'mbmicro profile' does)."""
    add_to_report(folder, result)
    report = json.loads((folder / "report.json").read_text())
    sram, stack = report["model"]["sram"], result["model_stack"]
    assert stack is not None and not stack["overflowed"] and not stack["untouched"]
    assert 0 < report["max_kernel_scratch_bytes"] <= stack["painted_bytes"] <= sram["stack_compiler_bytes"] + PAINT_SLACK
    assert sram["stack_painted_bytes"] == stack["painted_bytes"] and stack["compiler_bytes"] == sram["stack_compiler_bytes"]
    assert sram["stack_bytes"] == max(stack["painted_bytes"], sram["stack_compiler_bytes"])
    assert report["model"]["sram_peak_bytes"] == stack["sram_peak_bytes"] == (
        sram["arena_bytes"] + sram["io_bytes"] + sram["stack_bytes"] + sram["static_bytes"])
    assert f"painted {stack['painted_bytes']:,})" in (folder / "report.md").read_text()


@pytest.mark.parametrize("core_build", ["cortex-m4"], indirect=True)
def test_profile_repeats_exactly(core_build):
    """One core is enough here: test_qemu.py checks the counter on all four.  The stack painted
    before the first layer and read after the last repeats too, and changes no layer's count."""
    _, folder = core_build
    first, again = profile(folder), profile(folder)
    assert first == again
    _check_painted_stack(folder, first)
    assert sum(r["instructions"] for r in first["layers"]) == first["total"]["instructions"]
    steps = profiled_steps(json.loads((folder / "report.json").read_text())["layers"])  # a fused region: one
    assert [r["name"] for r in first["layers"]] == [s["name"] for s in steps]
    assert all(r["instructions"] > 0 for r in first["layers"])
    assert first["program_instructions"] > first["total"]["instructions"]
    # the estimated cycles repeat too: they come from the same exactly repeatable mix
    assert first["total"]["estimated_cycles"] == sum(r["estimated_cycles"] for r in first["layers"]) > 0


@pytest.mark.parametrize("core_build", ["cortex-a53"], indirect=True)
def test_painted_stack_in_user_mode(core_build):
    """qemu-aarch64 runs the same painting (a 1 MiB window below main's frame)."""
    _, folder = core_build
    _check_painted_stack(folder, profile(folder))


def test_oversize_model_is_refused_before_writing(tmp_path, capsys):
    out = tmp_path / "sub" / "big"
    assert main(["build", "--model", "mobilenetv2", "--target", "cortex-m4", "-o", str(out)]) == 2
    err = _one_line_error(capsys)
    assert re.search(r"needs [\d,]+ B SRAM .* but 262,144 B are available", err), err
    assert "--width" in err and "--sram" in err
    assert list(tmp_path.iterdir()) == []


def test_sram_override_refuses_a_model_that_fits_by_default(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["build", "--model", "mobilenetv2", "--target", "cortex-m4", "-o", str(out),
                 "--sram", "64K", *SMALL]) == 2
    assert "but 65,536 B are available" in _one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_flash_override_refuses_after_compiling_code(tmp_path, capsys):
    """Weights + runtime (495 KB + 41 KB, the DSP pointwise records included) fit 540 KiB,
    weights + compiled code (~31 KB) do not: refused after the compile, and the staging folder is gone."""
    out = tmp_path / "small"
    assert main(["build", "--model", "mobilenetv2", "--target", "cortex-m4", "-o", str(out),
                 "--flash", "540KiB", *SMALL]) == 2
    err = _one_line_error(capsys)
    assert re.search(r"needs [\d,]+ B flash \(weights [\d,]+ \+ code [1-9][\d,]+ (\+ constants [\d,]+ )?\+ runtime", err), err
    assert "but 552,960 B are available" in err and "--flash" in err
    assert list(tmp_path.iterdir()) == []


def test_overridden_budgets_reach_the_linker_script(tmp_path):
    out = tmp_path / "b"
    assert main(["build", "--model", "mobilenetv2", "--target", "cortex-m7", "-o", str(out),
                 "--sram", "2MiB", "--flash", "3M", *SMALL]) == 0
    text = (out / "link.ld").read_text()
    assert f"LENGTH = {2 << 20}\n" in text and f"LENGTH = {3 << 20}\n" in text
    assert not re.search(r"@[A-Z_]+@", text)
    report = json.loads((out / "report.json").read_text())
    assert report["sram_budget_bytes"] == 2 << 20 and report["memory"]["flash_budget_bytes"] == 3 << 20


@pytest.mark.parametrize("model,core", MATRIX)
def test_model_matrix(model, core, tmp_path):
    build_and_verify(model, core, tmp_path / "b", CONFIGS[model])
