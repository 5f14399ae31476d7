"""Impossible builds are refused at once, from the options alone (issue 14, defects 5 and 6).

* --classes has a ceiling, and a model far too large for the board, for this
  machine's memory or for ONNX is refused in one line before anything is
  built (it used to take minutes and gigabytes, or crash with a 95 GiB
  allocation).  ``show`` of a huge model is instant: it needs shapes only.
* The up-front estimate is a true lower bound: on every model it is at most
  the weights and arena of the real int8 build, so it never refuses a model
  that would fit.
* Prefixes that collide with the project's own C names, C keywords or C's
  reserved identifiers are refused before anything is built (``--prefix
  mbmicro`` used to fail in the C compiler: MBMICRO_INPUT_SIZE redefined).

The time limits are hang guards, not benchmarks: every refusal here takes
well under a second; before the fix the same commands ran for minutes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mbmicro.cli import main
from mbmicro.codegen import aot
from mbmicro.codegen.kernel_types import NodeKernel
from mbmicro.codegen.knobs import target_family
from mbmicro.codegen.ops import plan_for
from mbmicro.codegen.project import RUNTIME_FILES
from mbmicro.commands.show import layer_table
from mbmicro.errors import UserError
from mbmicro.models import estimate as est_mod
from mbmicro.models.builder import build_from_config, structure_from_config
from mbmicro.models.estimate import build_memory_bytes, check_memory, estimate
from mbmicro.models.options import MAX_CLASSES, check_options
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.pipeline import make_model
from mbmicro.targets.target import load_target, target_names

ROOT = Path(__file__).resolve().parents[1]
HANG_GUARD_S = 20.0


def _refused(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must exit 2 with one error line, quickly. Returns the line."""
    started = time.monotonic()
    code = main(argv)
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("mbmicro: error: ") and err.count("\n") == 1, err
    assert elapsed < HANG_GUARD_S, f"{argv} took {elapsed:.1f} s to refuse"
    return err


# ------------------------------------------------------------------ defect 5: --classes ceiling

def test_check_options_bounds_classes():
    assert check_options("mobilenetv2", classes=MAX_CLASSES).classes == MAX_CLASSES
    with pytest.raises(UserError, match=f"between 1 and {MAX_CLASSES:,}"):
        check_options("mobilenetv2", classes=MAX_CLASSES + 1)


@pytest.mark.parametrize("command", [
    ["show", "mobilenetv2"],
    ["reference", "mobilenetv2"],
    ["export-onnx", "mobilenetv2", "-o", "{tmp}/m.onnx"],
    ["build", "--model", "mobilenetv2", "-o", "{tmp}/b"],
    ["build", "--model", "mobilenetv2", "--target", "cortex-m4", "-o", "{tmp}/b"],
])
def test_ten_million_classes_refused_in_one_line(command, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in command] + ["--classes", str(10**7)]
    err = _refused(argv, capsys)
    assert "classes 10000000 is out of range" in err and f"{MAX_CLASSES:,}" in err, err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ defect 5: fit before the slow work

def test_mixnet_width2_res1024_refused_for_cortex_m4_at_once(tmp_path, capsys):
    err = _refused(["build", "--model", "mixnet-m", "--target", "cortex-m4", "--width", "2",
                    "--resolution", "1024", "-o", str(tmp_path / "b")], capsys)
    assert "mixnet-m does not fit cortex-m4: needs " in err and "B SRAM or more (arena at least" in err, err
    assert "262,144 B are available" in err and "larger --sram" in err, err
    assert list(tmp_path.iterdir()) == []


def test_classifier_too_large_for_flash_refused_at_once(tmp_path, capsys):
    # width 0.35 at 64 px fits the M4's SRAM with a 100,000-byte output (at 96 px the arena and
    # I/O do not); 100,000 classes are 12.8 MB of int8 weights
    err = _refused(["build", "--model", "mobilenetv2", "--target", "cortex-m4", "--width", "0.35",
                    "--resolution", "64", "--classes", str(MAX_CLASSES), "-o", str(tmp_path / "b")], capsys)
    assert "B flash or more (weights at least" in err and "code not yet compiled" in err, err
    assert "1,048,576 B are available" in err, err
    assert list(tmp_path.iterdir()) == []


def test_show_of_a_huge_model_is_instant(capsys):
    started = time.monotonic()
    code = main(["show", "mixnet-m", "--width", "4", "--resolution", "1024", "--classes", str(MAX_CLASSES)])
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0 and elapsed < HANG_GUARD_S, (code, elapsed)
    params = estimate(check_options("mixnet-m", 4, 1024, MAX_CLASSES)).params
    total = out.strip().splitlines()[-1].split()
    assert total[0] == "TOTAL" and total[-1] == f"{params:,}", out[-300:]


# ------------------------------------------------------------------ the estimate is a lower bound

def _args_only(graph, node, target, knobs=None) -> NodeKernel:
    """codegen.kernels.lower_node without TVM: the same OpPlan arguments (so the same
    constant arrays in the same layout), a placeholder C source."""
    plan = plan_for(graph, node, target_family(target))
    return NodeKernel(node.name, "k", "", list(plan.args), {}, 0)


def _same_structure(structure, graph) -> None:
    """The weightless walk has the built float graph's nodes, attributes and shapes."""
    assert [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in structure.nodes] == \
        [(n.name, n.op, n.inputs, n.outputs, n.attrs) for n in graph.nodes]
    assert {k: t.shape for k, t in structure.tensors.items()} == {k: t.shape for k, t in graph.tensors.items()}
    for s, g in zip(structure.nodes, graph.nodes):
        assert {k: a.shape for k, a in s.params.items()} == {k: a.shape for k, a in g.params.items()}, s.name
    assert layer_table(structure) == layer_table(graph)  # what `show` prints


CONFIGS = [(m, 0.35, 96) for m in MODEL_NAMES] + [
    ("mobilenetv2", 1.0, 128), ("mixnet-m", 1.0, 128), ("mobilenetv3-large", 1.3, 64)]


def test_estimate_stores_grouped_1x1_as_the_build_does():
    """A grouped 1x1 the build runs dense (codegen/ops/pointwise.dense_weight) counts its dense
    weights in the estimate; one with more groups counts its grouped weights."""
    from kernel_harness import single_node_graph, tensor

    from mbmicro.codegen.ops.pointwise import dense_weight
    from mbmicro.graph.ir import DENSE_GROUPS_MAX
    from mbmicro.models.estimate import weights_lower_bound

    for groups in (1, 2, DENSE_GROUPS_MAX, DENSE_GROUPS_MAX + 1):
        c = k = 2 * groups
        w = np.ones((k, 1, 1, c // groups), np.int8)
        graph, _ = single_node_graph(
            "conv2d", [tensor("x", (1, 4, 4, c), 0)], tensor("y", (1, 4, 4, k), 0),
            attrs=dict(kernel=(1, 1), stride=1, pad=(0, 0, 0, 0), groups=groups, act_min=-128, act_max=127),
            params=dict(weight=w, bias=np.zeros(k, np.int32), multiplier=np.ones(k, np.int32),
                        shift=np.zeros(k, np.int32)))
        stored = dense_weight(w, groups).size if groups <= DENSE_GROUPS_MAX else w.size
        assert weights_lower_bound(graph) == stored + 8 * k + 4 * k, groups


@pytest.mark.parametrize("model, width, resolution", CONFIGS)
def test_estimate_is_a_lower_bound_of_the_real_build(model, width, resolution):
    cfg = check_options(model, width, resolution, 10, 0)
    est = estimate(cfg)
    float_graph, graph = make_model(model, width, resolution, 10, 0)
    _same_structure(structure_from_config(cfg), float_graph)
    assert est.io_bytes == graph.input.nbytes + graph.output.nbytes
    for name in ("host", "cortex-m4", "cortex-a53"):  # three kernel families, three weight layouts
        program = aot.lower_graph(graph, load_target(name), "net", lower=_args_only)
        weights, arena = program.weights.total_bytes, program.plan.peak
        assert est.weights_bytes <= weights and est.arena_bytes <= arena, (name, est, weights, arena)
        # and close enough to refuse what is far too large
        assert est.weights_bytes >= 0.9 * weights and est.arena_bytes >= 0.75 * arena, (name, est, weights, arena)


_PEAK_RSS = """
import json, resource, sys
from mbmicro.pipeline import make_model
make_model(*json.loads(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_memory_estimate_is_below_the_measured_peak():
    args = ["mobilenetv2", 1.0, 256, 10, 0]
    cfg = check_options(*args)
    need = build_memory_bytes(cfg, estimate(cfg), quantize=True)
    assert need > 100 * 2**20  # well above the interpreter's own ~30 MiB, so the comparison means something
    r = subprocess.run([sys.executable, "-c", _PEAK_RSS, json.dumps(args)], capture_output=True, text=True,
                       timeout=300, check=True)
    assert need <= int(r.stdout.strip().splitlines()[-1])


def test_check_memory_refuses_only_beyond_the_machine():
    cfg = check_options("mobilenetv2", 0.5, 160, 10)
    need = build_memory_bytes(cfg, estimate(cfg), quantize=True)
    assert check_memory(cfg, quantize=True, available=need) == estimate(cfg)
    with pytest.raises(UserError, match=r"needs at least [0-9,]+ MiB of memory to build"):
        check_memory(cfg, quantize=True, available=need - 1)


@pytest.mark.parametrize("command", [
    ["build", "--model", "mobilenetv2", "-o", "{tmp}/b"],
    ["reference", "mobilenetv2"],
    ["export-onnx", "mobilenetv2", "--int8", "-o", "{tmp}/m.onnx"],
])
def test_commands_refuse_a_model_larger_than_the_machine(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(est_mod, "available_memory", lambda: 64 * 2**20)  # a 64 MiB machine
    err = _refused([a.format(tmp=tmp_path) for a in command], capsys)
    assert "of memory to build" in err and "this machine has 64 MiB" in err, err
    assert list(tmp_path.iterdir()) == []


def test_float_onnx_over_two_gib_refused_at_once(tmp_path, capsys):
    err = _refused(["export-onnx", "mobilenetv2", "--width", "4", "--resolution", "32",
                    "--classes", str(MAX_CLASSES), "-o", str(tmp_path / "m.onnx")], capsys)
    assert "over ONNX's 2 GiB limit" in err and "--int8" in err, err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ defect 6: reserved prefixes

RESERVED = ["mbmicro", "MBMICRO", "MbMicro", "mbmicro_net", "MBMICRO_APP", "semihost", "SEMIHOST_SYS",
            "int", "while", "static", "_Bool", "bool", "_Foo", "__x", "_x"]


@pytest.mark.parametrize("prefix", RESERVED)
def test_reserved_prefix_refused_before_anything(prefix, tmp_path, capsys):
    taken = tmp_path / "taken"  # the old code got past the prefix and stopped here ("pass --force")
    taken.mkdir()
    err = _refused(["build", "--model", "mobilenetv2", "--prefix", prefix, "-o", str(taken)], capsys)
    assert f"prefix {prefix!r}" in err and "--prefix" in err, err
    assert re.search(r"reserved|C keyword", err), err
    assert list(taken.iterdir()) == []


@pytest.mark.parametrize("prefix", ["net", "my_model", "mbmicrox", "Integer", "semihosted", "x_mbmicro"])
def test_free_prefixes_are_accepted(prefix):
    assert aot.check_prefix(prefix) == prefix


def _shipped_c_names() -> set[str]:
    """Global names of the fixed C that goes into a build: runtime macros and non-static
    functions, the target headers' macros and functions, and the app glue's macros."""
    files = [ROOT / "codegen" / "runtime" / n for n in RUNTIME_FILES]
    for name in target_names():
        target = load_target(name)
        files += [target.folder / f for f in target.extra.get("files", []) if f.endswith((".c", ".h"))]
    glue = aot.render_app_h(SimpleNamespace(prefix="net", macro="NET"))
    headers = "\n".join([glue] + [p.read_text() for p in sorted(set(files)) if p.suffix == ".h"])
    sources = "\n".join(p.read_text() for p in sorted(set(files)))
    macros = re.findall(r"^\s*#\s*define\s+(\w+)", headers, re.M)  # a .c file's own macros stay in it
    functions = re.findall(r"^(?!static\b|extern\b)(?:[A-Za-z_]\w*[\s*]+)+([A-Za-z_]\w*)\s*\(", sources, re.M)
    return {n for n in macros + functions if n != "main" and "NET" not in n}


def test_every_namespace_of_the_shipped_c_is_reserved():
    names = _shipped_c_names()
    assert {"MBMICRO_INPUT_SIZE", "mbmicro_trace", "semihost_exit", "SEMIHOST_SYS_EXIT_EXTENDED"} <= names
    for name in names:
        head = name.split("_")[0] or name  # "MBMICRO_INPUT_SIZE" -> "MBMICRO"; "_exit" stays
        with pytest.raises(UserError):
            aot.check_prefix(head)
