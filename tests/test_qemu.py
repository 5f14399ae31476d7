"""The instruction-counting plugin and `mbmicro profile`.

A loop of known length between the markers must give the same counts on every run and
counts that grow exactly linearly with the loop length, on all four cores.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from mbmicro.sim import cycles, qemu
from mbmicro.cli import main as cli_main
from mbmicro.codegen.project import executable_names
from mbmicro.errors import UserError
from mbmicro.targets.target import load_target
from test_json_output import validate
from test_targets import ARM_TARGETS, DATA, build_program


@pytest.fixture(scope="module", params=ARM_TARGETS)
def count_loop(request, tmp_path_factory):
    target = load_target(request.param)
    folder = tmp_path_factory.mktemp(f"count-{request.param}")
    build_program(target, [DATA / "arm_count" / "count_loop.c"], folder)
    return target, folder / target.extra["exe"]


def test_counts_are_repeatable_and_linear(count_loop):
    target, exe = count_loop
    first = qemu.count_instructions(target, exe, ["1000"], cwd=exe.parent)
    again = qemu.count_instructions(target, exe, ["1000"], cwd=exe.parent)
    double = qemu.count_instructions(target, exe, ["2000"], cwd=exe.parent)
    assert first == again
    # regions run N, 2N, 3N iterations: count = a + b * iterations, exactly
    r = first.regions
    assert len(r) == 3
    per_n = r[1] - r[0]
    assert per_n > 0 and r[2] - r[1] == per_n
    # region k (1-based) costs a + per_n * k; with 2N iterations a + 2 * per_n * k
    assert double.regions == [r[0] + per_n * (2 * k - 1) for k in (1, 2, 3)]
    # at least one instruction per iteration (the loop cannot be folded away), at most a few
    assert 1000 <= per_n <= 8 * 1000
    assert first.total > sum(r)


def test_mix_sums_to_the_count_and_is_linear(count_loop):
    """The classes of every region add up to its instruction count, on every core."""
    target, exe = count_loop
    first = qemu.count_instructions(target, exe, ["1000"], cwd=exe.parent)
    assert len(first.mix) == len(first.regions) == 3
    for mix, count in zip(first.mix, first.regions):
        assert cycles.instructions(mix) == count
        assert set(mix) == set(cycles.load_table(target)["cycles"]) | {cycles.EXTRA}
    # the extra 1000 iterations of each region are all loop body: x = x * a + b is a multiply
    step = {c: first.mix[1][c] - first.mix[0][c] for c in first.mix[0]}
    assert step == {c: first.mix[2][c] - first.mix[1][c] for c in first.mix[0]}
    assert step["mul"] >= 1000 and step["branch"] >= 1000 // 8
    table = cycles.load_table(target)
    assert 0 < cycles.estimate(first.mix[0], table) < 20 * first.regions[0]


def test_run_without_plugin_matches(count_loop):
    target, exe = count_loop
    result = qemu.run(target, exe, ["1000"], cwd=exe.parent)
    assert result.returncode == 0 and b"count_loop: " in result.stdout


def test_marker_errors(count_loop, tmp_path):
    target, exe = count_loop
    begin, end = qemu.marker_addresses(target, exe)
    assert begin != end and begin % 2 == 0
    with pytest.raises(UserError, match="exited with status 1"):
        qemu.count_instructions(target, exe, [], cwd=exe.parent)  # usage error in the guest
    with pytest.raises(UserError, match="has no mbmicro_layer_begin"):
        build_program(target, [DATA / "arm_fault" / "fault.c"], tmp_path)
        qemu.marker_addresses(target, tmp_path / target.extra["exe"])


def test_parse_counts_reports_misuse():
    assert qemu.parse_counts("region 0 5\nregion 1 7\ntotal 99\n") == qemu.InstructionCounts([5, 7], 99)
    report = "region 0 5\nregion 1 7\nclasses alu load extra_registers\nmix 0 4 1 0\nmix 1 5 2 3\ntotal 99\n"
    assert qemu.parse_counts(report).mix == [{"alu": 4, "load": 1, "extra_registers": 0},
                                             {"alu": 5, "load": 2, "extra_registers": 3}]
    with pytest.raises(RuntimeError, match="1 mix lines for 2 regions"):
        qemu.parse_counts("region 0 5\nregion 1 7\nclasses alu extra_registers\nmix 0 5 0\ntotal 9\n")
    with pytest.raises(UserError, match="begin but no end"):
        qemu.parse_counts("total 9\nerror region 0 has a begin but no end\n")


def _fake_build_folder(name: str, folder: Path) -> None:
    """A build folder shaped like codegen/project.py's (Makefile, build.json, report.json),
    with tiny_model.c as the model."""
    target = load_target(name)
    build_program(target, [DATA / "arm_profile" / "tiny_model.c"], folder)
    exe = target.extra["exe"]
    profile_exe = "app_profile" + Path(exe).suffix
    flags = " ".join(shlex.quote(f) for f in target.cflags)
    ldflags = " ".join(shlex.quote(f) for f in target.ldflags)
    (folder / "Makefile").write_text(
        f"CC = {target.cc}\nCFLAGS = {flags}\nLDFLAGS = {ldflags}\n\n"
        f"profile: {profile_exe}\n\n"
        f"{profile_exe}: $(wildcard *.c *.S)\n"
        f"\t$(CC) $(CFLAGS) -DMBMICRO_PROFILE $(wildcard *.c *.S) $(LDFLAGS) -o $@\n")
    tensor = {"tensor": "x", "shape": [1, 16, 16, 3], "scale": 1.0, "zero_point": 0}
    build = {"format": "mbmicro-build/1", "model": "tiny", "options": {}, "target": name, "prefix": "tiny",
             "exe": executable_names(target), "input": tensor, "output": dict(tensor, tensor="y"),
             "files": ["Makefile", "build.json", "report.json"]}
    (folder / "build.json").write_text(json.dumps(build))
    layers = [{"name": f"dot{k}", "macs": 256 * (k + 1)} for k in range(3)]
    (folder / "report.json").write_text(json.dumps({"layers": layers}))


@pytest.mark.parametrize("name", ["cortex-m4", "cortex-a53"])
def test_profile_command(name, tmp_path, capsys):
    _fake_build_folder(name, tmp_path)
    assert cli_main(["profile", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    validate("profile", result)
    assert cli_main(["profile", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result  # deterministic
    layers = result["layers"]
    assert [x["name"] for x in layers] == ["dot0", "dot1", "dot2"]
    assert [x["macs"] for x in layers] == [256, 512, 768]
    ins = [x["instructions"] for x in layers]
    assert ins[1] - ins[0] == ins[2] - ins[1] > 0
    for x in layers:
        assert x["instructions_per_mac"] == pytest.approx(x["instructions"] / x["macs"])
    assert result["total"]["instructions"] == sum(ins) and result["total"]["macs"] == 1536
    table = cycles.load_table(load_target(name))
    for x in layers:  # the estimate is the layer's own mix priced by the core's table
        assert cycles.instructions(x["mix"]) == x["instructions"]
        assert x["estimated_cycles"] == cycles.estimate(x["mix"], table) > 0
    assert result["total"]["estimated_cycles"] == sum(x["estimated_cycles"] for x in layers)
    assert result["cycles_table"] == f"targets/{name}/cycles.json"

    assert cli_main(["profile", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "dot2" in text and "total (layers)" in text and f"{sum(ins):,}" in text
    assert "est. cycles*" in text and "an ESTIMATE, not a measurement" in text
    assert f"{result['total']['estimated_cycles']:,}" in text


def test_profile_layer_mismatch_is_a_user_error(tmp_path, capsys):
    _fake_build_folder("cortex-m4", tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"layers": [{"name": "only", "macs": 1}]}))
    assert cli_main(["profile", str(tmp_path)]) == 2
    assert "marked 3 layers but report.json lists 1" in capsys.readouterr().err
