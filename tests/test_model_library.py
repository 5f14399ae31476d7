"""The model as a library (docs/MODEL_LIBRARY.md): OUT/model/ alone builds into someone else's program.

Host checks with the hand-made toy graph of test_build_host (fast, no TVM): model/ holds exactly
the model's files and stays so after make; a program in another folder that includes
model/model.mk builds and equals the int8 reference; run_with_arena's return codes;
--io-in-arena's plan.  Cortex-M4 checks with MobileNetV2's real kernels: model/ links with
-ffreestanding -nostdlib, model.cmake builds in a CMake project, the caller-arena and
input-in-arena variants and two models sharing one arena are bit-exact in QEMU (mps2-an386),
and the report states the model's stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main
from mbmicro.codegen.project import build_project
from mbmicro.formats import elf
from mbmicro.reference.int8 import run_int8
from mbmicro.targets.target import load_target, targets_root
from test_build_host import fake_lower, toy_graph

DATA = Path(__file__).resolve().parent / "data" / "model_library"
#: the memory functions a program without newlib needs, as the board firmware links them
FREESTANDING_MEM = targets_root() / "common" / "freestanding_mem.c"


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lib") / "build"
    build_project(toy_graph(), load_target("host"), out, prefix="toy_net", force=False,
                  info={"model": "toy-net", "options": {}}, lower=fake_lower)
    return out


MODEL_FILES = {"toy_net_model.h", "toy_net_model.c", "toy_net_kernels.c", "toy_net_weights.h",
               "toy_net_weights.c", "mbmicro_hooks.h", "model.mk", "model.cmake"}


def test_model_folder_holds_only_the_model(toy):
    """model/ is the generated C, its headers and the two build fragments; the test program,
    target files and build products stay outside it, also after make."""
    assert {p.name for p in (toy / "model").iterdir()} == MODEL_FILES
    build = json.loads((toy / "build.json").read_text())
    assert {f for f in build["files"] if f.startswith("model/")} == {f"model/{n}" for n in MODEL_FILES}
    assert "mbmicro_main.c" in build["files"] and "mbmicro_hooks.c" in build["files"]
    subprocess.run(["make", "-s", "all", "trace", "profile"], cwd=toy, check=True, capture_output=True)
    assert {p.name for p in (toy / "model").iterdir()} == MODEL_FILES


def test_model_mk_builds_a_program_in_another_folder(toy, tmp_path):
    """A Makefile elsewhere includes ../build/model/model.mk and uses MODEL_SRCS/MODEL_CFLAGS
    only: the paths in the fragment are relative to its own folder, not to the includer."""
    app = tmp_path / "app"
    app.mkdir()
    rel = os.path.relpath(toy, app)  # e.g. ../../lib0/build
    assert rel.startswith("..")
    (app / "Makefile").write_text(
        f"include {rel}/model/model.mk\n"
        "run_toy: main.c $(MODEL_SRCS)\n"
        "\t$(CC) $(MODEL_CFLAGS) -Wall -Wextra -Werror -o $@ main.c $(MODEL_SRCS)\n")
    (app / "main.c").write_text((DATA / "toy_main.c").read_text())
    done = subprocess.run(["make", "-s", "CC=gcc"], cwd=app, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    graph = toy_graph()
    x = np.random.default_rng(5).integers(-128, 128, graph.input.shape, dtype=np.int8)
    run = subprocess.run([str(app / "run_toy")], input=x.tobytes(), capture_output=True, check=True)
    assert run.stdout == run_int8(graph, x).tobytes()


# ---- the API: caller's arena, return codes, input and output in the arena ------------------------

@pytest.fixture(scope="module")
def toy_io(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lib") / "io"
    rep = build_project(toy_graph(), load_target("host"), out, prefix="toy_net", force=False,
                        info={"model": "toy-net", "options": {}}, lower=fake_lower, io_in_arena=True)
    return out, rep


def test_run_with_arena_checks_its_arguments(toy_io, tmp_path):
    """NULL arena, misaligned arena, an input outside the arena (--io-in-arena) each give their
    code; a proper call and the static-arena <prefix>_run give TOY_NET_OK."""
    out, _ = toy_io
    exe = tmp_path / "codes"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{out / 'model'}", "-o", str(exe),
                    str(DATA / "return_codes.c"), *(str(out / "model" / f"toy_net_{n}.c")
                                                    for n in ("model", "kernels", "weights"))], check=True)
    codes = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert codes == ["-1", "-2", "-3", "0", "0"]
    header = (out / "model" / "toy_net_model.h").read_text()
    assert "#define TOY_NET_ERROR_ALIGN (-2)" in header and "#define TOY_NET_ARENA_ALIGN 16" in header


def test_header_serves_cpp_firmware(toy_io, tmp_path):
    """A C++ main links with the C model: the header declares its functions extern "C"."""
    out, _ = toy_io
    objs = []
    for name in ("model", "kernels", "weights"):
        obj = tmp_path / f"{name}.o"
        subprocess.run(["gcc", "-std=c99", "-c", "-o", str(obj), str(out / "model" / f"toy_net_{name}.c")], check=True)
        objs.append(str(obj))
    exe = tmp_path / "cpp"
    done = subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{out / 'model'}", "-o", str(exe),
                           str(DATA / "cpp_main.cpp"), *objs], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert subprocess.run([str(exe)]).returncode == 0


def test_io_in_arena_reuses_the_input_bytes(toy_io, toy):
    """With --io-in-arena the input and output are arena buffers: the arena grows by less than
    they take outside it, the report's SRAM need has no input/output buffers, the header says where."""
    out, rep = toy_io
    plain = json.loads((toy / "report.json").read_text())
    x, y = toy_graph().input.nbytes, toy_graph().output.nbytes
    assert rep["memory"]["io_bytes"] == 0 and plain["memory"]["io_bytes"] == x + y
    assert rep["arena_bytes"] < plain["arena_bytes"] + x + y
    assert rep["memory"]["sram_needed_bytes"] < plain["memory"]["sram_needed_bytes"]
    header = (out / "model" / "toy_net_model.h").read_text()
    assert "#define TOY_NET_IO_IN_ARENA 1" in header and "toy_net_input(void *arena)" in header
    assert "IO_IN_ARENA" not in (toy / "model" / "toy_net_model.h").read_text()
    assert json.loads((out / "build.json").read_text())["io_in_arena"] is True


def test_io_in_arena_lifetimes():
    """The planner's view (mbmicro.graph.liveness): the input lives from step 0 to its last
    reader (the residual at step 2), the output from its producer to the last step."""
    from mbmicro.graph.liveness import arena_buffers
    from mbmicro.codegen.planner import INPLACE_INPUTS

    graph = toy_graph()
    root, life = arena_buffers(graph, INPLACE_INPUTS, io_in_arena=True)
    assert life[root["x"]] == (0, 2) and life[root["y"]][1] == len(graph.nodes) - 1
    root, life = arena_buffers(graph, INPLACE_INPUTS)
    assert "x" not in root and "y" not in root


# ---- the model's stack need ------------------------------------------------------------------------

CALLGRAPH = """graph: { title: "m.c"
node: { title: "p_run" label: "p_run\\nm.c:1:5\\n16 bytes (static)" }
node: { title: "k1" label: "k1\\nk.c:1:6\\n200 bytes (static)" }
node: { title: "k2" label: "k2\\nk.c:9:6\\n40 bytes (static)" }
node: { title: "helper" label: "helper\\nk.c:20:6\\n300 bytes (static)" }
node: { title: "memset" label: "memset\\n<built-in>" shape : ellipse }
edge: { sourcename: "p_run" targetname: "k1" label: "m.c:3:5" }
edge: { sourcename: "p_run" targetname: "k2" label: "m.c:4:5" }
edge: { sourcename: "k2" targetname: "helper" label: "k.c:10:5" }
edge: { sourcename: "k1" targetname: "memset" }
}
"""


def test_stack_is_the_worst_call_chain():
    """16 + 40 + 300 through k2 -> helper beats 16 + 200 through k1; memset is named, not counted."""
    from mbmicro.codegen.stack import parse_callgraph, worst_chain

    frames, calls = parse_callgraph([CALLGRAPH])
    need = worst_chain(["p_run", "p_run_with_arena"], frames, calls, "measured")
    assert (need.bytes, need.chain, need.external) == (356, ["p_run", "k2", "helper"], ["memset"])
    recursive = CALLGRAPH.replace('targetname: "memset"', 'targetname: "k1"')
    assert worst_chain(["p_run"], *parse_callgraph([recursive]), "m").bytes is None
    dynamic = CALLGRAPH.replace("40 bytes (static)", "40 bytes (dynamic)")
    need = worst_chain(["p_run"], *parse_callgraph([dynamic]), "m")
    assert need.bytes is None and "k2 allocates a dynamic amount" in need.method


# ---- on the Cortex-M4: freestanding link, CMake, caller's arena, I/O in the arena, two models ------

SMALL = ["--model", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10",
         "--target", "cortex-m4", "--prefix", "net"]
#: what gcc may call in a freestanding program (the program provides them)
FREESTANDING = {"memcpy", "memmove", "memset", "memcmp"}


@pytest.fixture(scope="module")
def net_m4(tmp_path_factory) -> Path:
    """MobileNetV2 with the real kernels for the M4 (DSP micro-kernels), prefix net."""
    out = tmp_path_factory.mktemp("m4") / "net"
    assert main(["build", *SMALL, "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def toy_m4(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("m4") / "toy"
    build_project(toy_graph(), load_target("cortex-m4"), out, prefix="toy_net", force=False,
                  info={"model": "toy-net", "options": {}}, lower=fake_lower)
    return out


def _symbols(path: Path) -> set[str]:
    """Names of the symbols ``path`` defines (its ELF symbol table)."""
    return set(elf.symbols(path))


def test_model_folder_links_freestanding_without_newlib(net_m4, tmp_path):
    """model/ alone (through model.mk) links into a -ffreestanding -nostdlib firmware: the model
    needs no newlib, no libgcc and no startup code; it calls at most the four functions gcc
    requires of a freestanding program."""
    (tmp_path / "Makefile").write_text(
        f"include {net_m4}/model/model.mk\n"
        "all: fw.elf model_lib.o\n"
        f"fw.elf: main.c {FREESTANDING_MEM} $(MODEL_SRCS)\n"
        "\tarm-none-eabi-gcc $(MODEL_CFLAGS) -Wall -Wextra -Werror -ffreestanding "
        "-nostdlib -Wl,--gc-sections -o $@ $^\n"
        "model_lib.o: $(MODEL_SRCS)\n"  # the library alone, one relocatable object: what it leaves undefined
        "\tarm-none-eabi-gcc $(MODEL_CFLAGS) -ffreestanding -nostdlib -r -o $@ $^\n")
    (tmp_path / "main.c").write_text((DATA / "freestanding_main.c").read_text())
    done = subprocess.run(["make", "-s"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    symbols = _symbols(tmp_path / "fw.elf")
    assert {"net_run", "net_run_with_arena", "net_arena"} <= symbols
    assert not symbols & {"_impure_ptr", "__libc_init_array", "malloc", "_sbrk", "printf", "__aeabi_memset"}
    undefined = elf.undefined(tmp_path / "model_lib.o")
    assert undefined <= FREESTANDING, undefined


def test_model_cmake_builds_a_firmware(net_m4, tmp_path):
    """A CMake project include()s model/model.cmake and links the static library net_model."""
    project = DATA / "cmake"
    configure = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "b"),
                                f"-DMODEL_CMAKE={net_m4 / 'model' / 'model.cmake'}",
                                f"-DFREESTANDING_MEM={FREESTANDING_MEM}",
                                f"-DCMAKE_TOOLCHAIN_FILE={project / 'arm-none-eabi.cmake'}"],
                               capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    build = subprocess.run(["cmake", "--build", str(tmp_path / "b")], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "b" / "libnet_model.a").is_file()
    assert "net_run" in _symbols(tmp_path / "b" / "firmware")


def test_caller_arena_variant_is_bit_exact_in_qemu(net_m4, tmp_path, capsys):
    """The test program with its own arena (net_run_with_arena), the model compiled without its
    static one, verifies bit for bit in QEMU."""
    out = tmp_path / "variant"
    shutil.copytree(net_m4, out, symlinks=True)
    variant = "VARIANT_CFLAGS=-DMBMICRO_CALLER_ARENA -DNET_NO_STATIC_ARENA"
    subprocess.run(["make", "-s", "clean"], cwd=out, check=True)
    subprocess.run(["make", "-s", variant], cwd=out, check=True, capture_output=True)
    symbols = _symbols(out / "app.elf")
    assert "net_run_with_arena" in symbols and "net_arena" not in symbols and "arena" in symbols
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact (mobilenetv2, cortex-m4)" in capsys.readouterr().out


def test_io_in_arena_is_bit_exact_in_qemu_and_needs_less_sram(net_m4, tmp_path, capsys):
    """--io-in-arena: the test program reads the input into the arena and has no buffers of its
    own; bit-exact in QEMU; the report's SRAM need drops (by at least the input's bytes unfused,
    by less in this default build, whose first fused region reads the input at the arena's
    peak: docs/MEMORY.md)."""
    out = tmp_path / "io"
    assert main(["build", *SMALL, "--io-in-arena", "-o", str(out)]) == 0
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact (mobilenetv2, cortex-m4)" in capsys.readouterr().out
    symbols = _symbols(out / "app.elf")
    assert "input_buffer" not in symbols and "output_buffer" not in symbols and "net_arena" in symbols
    io, plain = (json.loads((d / "report.json").read_text())["memory"] for d in (out, net_m4))
    assert io["sram_needed_bytes"] < plain["sram_needed_bytes"]


def test_two_models_share_one_arena_in_qemu(net_m4, toy_m4, tmp_path):
    """Two builds (prefixes toy_net and net) in one program through their two model.mk, run one
    after the other in one arena of max(size) bytes: both equal the reference, and toy_net run
    again after net gives the same output (nothing is kept in the arena between runs)."""
    from mbmicro.graph.serialize import load_graph
    from mbmicro.sim import qemu
    from mbmicro.targets.target import load_target as target_named

    target = target_named("cortex-m4")
    for name in target.extra["files"]:
        shutil.copy(net_m4 / Path(name).name, tmp_path / Path(name).name)  # link.ld with budgets filled in
    (tmp_path / "two_models.c").write_text((DATA / "two_models.c").read_text())
    startup = " ".join(Path(n).name for n in target.extra["files"] if n.endswith((".c", ".S")))
    (tmp_path / "Makefile").write_text(
        f"include {toy_m4}/model/model.mk\ninclude {net_m4}/model/model.mk\n"
        f"app.elf: two_models.c {startup} $(MODEL_SRCS)\n"
        f"\t{target.cc} $(MODEL_CFLAGS) -Wall -Wextra -Werror -DTOY_NET_NO_STATIC_ARENA -DNET_NO_STATIC_ARENA "
        f"-o $@ $^ {' '.join(target.ldflags)}\n")
    done = subprocess.run(["make", "-s"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    symbols = _symbols(tmp_path / "app.elf")
    assert "net_arena" not in symbols and "toy_net_arena" not in symbols
    net_graph, toy = load_graph(net_m4), toy_graph()
    rng = np.random.default_rng(11)
    a = rng.integers(-128, 128, toy.input.shape, dtype=np.int8)
    b = rng.integers(-128, 128, net_graph.input.shape, dtype=np.int8)
    (tmp_path / "a.bin").write_bytes(a.tobytes())
    (tmp_path / "b.bin").write_bytes(b.tobytes())
    run = qemu.run(target, tmp_path / "app.elf", ["a.bin", "b.bin", "ya.bin", "yb.bin", "ya2.bin"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "ya.bin").read_bytes() == run_int8(toy, a).tobytes()
    assert (tmp_path / "yb.bin").read_bytes() == run_int8(net_graph, b).tobytes()
    assert (tmp_path / "ya2.bin").read_bytes() == (tmp_path / "ya.bin").read_bytes()


def test_report_states_the_model_stack(net_m4):
    """report.json/md: the model's own stack, measured with -fstack-usage/-fcallgraph-info on the
    M4 objects (at least the largest kernel's stack scratch), apart from the test program's allowances."""
    report = json.loads((net_m4 / "report.json").read_text())
    stack = report["model_stack"]
    assert stack["method"].startswith("measured: -fstack-usage")
    # net_run may tail-call net_run_with_arena (then its frame is gone): either is the chain's root
    assert stack["chain"][0] in ("net_run", "net_run_with_arena") and stack["chain"][-1].startswith("net_mbk_")
    assert stack["bytes"] >= report["max_kernel_scratch_bytes"] > 0
    assert report["test_program"]["stack_bytes"] == 8192 and report["test_program"]["heap_bytes"] == 8192
    assert report["model"]["sram"]["stack_compiler_bytes"] == stack["bytes"]
    md = (net_m4 / "report.md").read_text()
    assert f"| model stack (worst call chain) | {stack['bytes']:,} B" in md
    assert "| test program allowances (target.json) | stack 8,192 B, heap 8,192 B |" in md
    assert not list(net_m4.glob("*.su")) and not list(net_m4.glob("*.ci"))


def test_the_early_estimate_knows_io_in_arena():
    """The estimate that refuses a model before building (a lower bound) counts the input and
    output inside the arena with --io-in-arena, so it never refuses a model that fits that way:
    MobileNetV2 0.35/96 plus 20 KiB of the M4's reserve, in a 160 KB SRAM budget."""
    from mbmicro.errors import UserError
    from mbmicro.models.estimate import estimate
    from mbmicro.models.options import check_options
    from mbmicro.targets.budgets import check_estimate, with_budgets

    cfg = check_options("mobilenetv2", 0.35, 96, 10)
    plain, io = estimate(cfg), estimate(cfg, io_in_arena=True)
    assert io.io_bytes == 0 and plain.io_bytes == 96 * 96 * 3 + 10
    assert plain.arena_bytes <= io.arena_bytes <= plain.arena_bytes + plain.io_bytes
    small = with_budgets(load_target("cortex-m4"), sram=160_000)
    check_estimate(small, cfg, io_in_arena=True)
    with pytest.raises(UserError, match="does not fit cortex-m4"):
        check_estimate(small, cfg)


def test_arena_section_places_the_static_arena(toy_m4, tmp_path):
    """<PREFIX>_ARENA_SECTION, given when compiling <prefix>_model.c, puts the static arena in that
    section (e.g. DTCM); without it the arena is ordinary .bss, aligned to <PREFIX>_ARENA_ALIGN."""
    from mbmicro.codegen.project import split_cflags

    flags = split_cflags(load_target("cortex-m4").cflags)[0]

    def arena_section(*defines: str) -> tuple[str, int]:
        obj = tmp_path / "m.o"
        subprocess.run(["arm-none-eabi-gcc", *flags, *defines, f"-I{toy_m4 / 'model'}", "-c", "-o", str(obj),
                        str(toy_m4 / "model" / "toy_net_model.c")], check=True)
        out = subprocess.run(["arm-none-eabi-objdump", "-t", str(obj)], capture_output=True, text=True,
                             check=True).stdout
        row = next(ln.split() for ln in out.splitlines() if ln.endswith(" toy_net_arena"))
        align = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(obj)], capture_output=True, text=True,
                               check=True).stdout
        section = row[-3]
        al = next(int(ln.split()[-1]) for ln in align.splitlines() if f" {section} " in ln)
        return section, al

    assert arena_section() == (".bss", 16)
    assert arena_section('-DTOY_NET_ARENA_SECTION=__attribute__((section(".dtcm")))') == (".dtcm", 16)
