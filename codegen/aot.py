"""Ahead-of-time C for a whole model: ``<prefix>_model.h/.c`` and ``<prefix>_kernels.c``.

Why AOT and not an interpreter: the model is known at build time, so the
generated ``<prefix>_run`` is a straight list of kernel calls with constant
arena offsets, weight symbols and integer arguments; there is no runtime,
no op table and no allocation, and the compiler sees every call site.

Symbols are prefixed (``<prefix>_run``, ``<prefix>_<kernel>``,
``<prefix>_w_*``, ``<prefix>_arena``) so that two generated models link into
one firmware.  The caller's input buffer is read in place by every kernel
that needs the graph input, and the last kernel writes the caller's output
buffer directly: neither is copied nor kept in the arena.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mbmicro.codegen.planner import MemoryPlan, plan_graph
from mbmicro.codegen.weights import WeightTable, c_identifier, c_literal
from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, macs
from mbmicro.targets.target import Target

_INCLUDE = re.compile(r"^\s*#\s*include\s*[<\"][^>\"]+[>\"]\s*$", re.M)


@dataclass
class Program:
    """A lowered, planned model: everything the C emitters need."""

    graph: Graph
    target: Target
    prefix: str
    kernels: list          # NodeKernel per node, in execution order
    plan: MemoryPlan
    weights: WeightTable
    calls: list[str]       # the C call statement of each node

    @property
    def macro(self) -> str:
        return self.prefix.upper()


def default_prefix(model_name: str) -> str:
    """Model name as a C identifier: ``mnasnet-a1`` -> ``mnasnet_a1``."""
    return c_identifier(model_name)


_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")

#: Name spaces of the C the project ships beside the generated files: the
#: runtime and the app glue (runtime/*.c/h, mbmicro_app.h: ``mbmicro_*``,
#: ``MBMICRO_*``) and the Cortex-M semihosting layer (targets/common:
#: ``semihost_*``, ``SEMIHOST_*``).  A prefix in one of them makes names like
#: ``<PREFIX>_INPUT_SIZE`` collide with theirs (``--prefix mbmicro`` redefines
#: MBMICRO_INPUT_SIZE), so both cases of the prefix are checked.
RESERVED_NAMESPACES = ("mbmicro", "semihost")

#: C keywords (C99, C11, C23) and the common compiler extension ``asm``.
C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if inline
    int long register restrict return short signed sizeof static struct switch typedef union unsigned
    void volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn
    _Static_assert _Thread_local alignas alignof bool constexpr false nullptr static_assert
    thread_local true typeof typeof_unqual asm
""".split())


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if every name generated from it is a free C identifier, else a UserError.

    Why before the build: a bad prefix only shows up when the test program
    fails to compile, with an error that points at the toolchain.
    """
    if not _PREFIX.fullmatch(prefix):
        raise UserError(f"prefix {prefix!r} is not a C identifier: pass e.g. --prefix my_model")
    if prefix in C_KEYWORDS:
        raise UserError(f"prefix {prefix!r} is a C keyword: pass another --prefix, e.g. my_model")
    if prefix.startswith("_"):
        raise UserError(f"prefix {prefix!r} starts with '_', and the names made from it (such as "
                        f"{prefix.upper()}_MODEL_H) are reserved by C: pass e.g. --prefix my_model")
    for space in RESERVED_NAMESPACES:
        if prefix.lower() == space or prefix.lower().startswith(space + "_"):
            raise UserError(f"prefix {prefix!r} is reserved: mbmicro's own C uses the names {space}_* and "
                            f"{space.upper()}_*; pass another --prefix, e.g. my_model")
    return prefix


def lower_graph(graph: Graph, target: Target, prefix: str, lower=None,
                knobs: dict | None = None) -> Program:
    """Lower every node (``lower`` defaults to codegen.kernels.lower_node), plan the arena."""
    if lower is None:
        from mbmicro.codegen.kernels import lower_node as lower
    knobs = knobs or {}
    kernels = [lower(graph, node, target, knobs.get(node.name)) for node in graph.nodes]
    plan = plan_graph(graph)  # kernel scratch lives on the stack (NodeKernel.scratch_bytes)
    weights = WeightTable(prefix)
    program = Program(graph, target, prefix, kernels, plan, weights, [])
    program.calls = [_call(program, i, k) for i, k in enumerate(kernels)]
    return program


def tensor_pointer(program: Program, tensor: str) -> str:
    """C expression of the int8 buffer that holds ``tensor``."""
    graph = program.graph
    if tensor in graph.inputs:
        return "input"
    if tensor in graph.outputs:
        return "output"
    return f"{program.prefix}_arena + {program.plan.offsets[tensor]}"


def _cast(expr: str, ctype: str) -> str:
    base = ctype.replace("const", "").replace("*", "").strip()
    return expr if base == "int8_t" else f"({ctype})({expr})"


def _call(program: Program, step: int, kernel) -> str:
    node = program.graph.nodes[step]
    args = []
    for arg in kernel.args:
        if arg.kind in ("input", "output"):
            if arg.kind == "output" and arg.value in program.graph.inputs:
                raise ValueError(f"node {node.name}: writes the graph input {arg.value}")
            args.append(_cast(tensor_pointer(program, arg.value), arg.ctype))
        elif arg.kind == "const":
            symbol = program.weights.add(f"{node.name}_{arg.name}", arg.value)
            want = arg.ctype.replace("const", "").replace("*", "").strip()
            if want != program.weights.ctype(symbol):
                raise ValueError(f"node {node.name}: argument {arg.name} is {arg.ctype} but its array is "
                                 f"{program.weights.ctype(symbol)}")
            args.append(symbol)
        elif arg.kind == "int":
            args.append(c_literal(arg.value, arg.ctype))
        else:
            raise ValueError(f"node {node.name}: unknown kernel argument kind {arg.kind!r}")
    return f"{program.prefix}_{kernel.function}({', '.join(args)});"


def _signature(source: str, function: str) -> tuple[int, int]:
    """(start, end) of the definition header of ``function`` in ``source`` (up to the brace)."""
    m = re.search(rf"^[ \t]*(?:static\s+)?(?:inline\s+)?[\w \t\*]*?\b{re.escape(function)}\s*\(", source, re.M)
    if m is None:
        raise ValueError(f"kernel source does not define {function}()")
    depth, i = 0, m.end() - 1
    while True:
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        if depth == 0:
            return m.start(), i + 1
        i += 1


def _prefixed_source(prefix: str, kernel) -> tuple[str, str, list[str]]:
    """(prototype, body without includes, includes) with the function renamed and exported."""
    source = re.sub(rf"\b{re.escape(kernel.function)}\b", f"{prefix}_{kernel.function}", kernel.source)
    includes = [line.strip() for line in _INCLUDE.findall(source)]
    body = _INCLUDE.sub("", source).strip("\n")
    start, end = _signature(body, f"{prefix}_{kernel.function}")
    header = re.sub(r"^\s*(static\s+)?(inline\s+)?", "", body[start:end])
    body = body[:start] + header + body[end:]
    return " ".join(header.split()) + ";", body, includes


def unique_kernels(program: Program) -> list:
    """One NodeKernel per function name, sorted by name (same name => same source)."""
    by_name: dict = {}
    for k in program.kernels:
        if k.function in by_name and by_name[k.function].source != k.source:
            raise ValueError(f"two different sources for kernel {k.function}")
        by_name.setdefault(k.function, k)
    return [by_name[name] for name in sorted(by_name)]


def render_kernels_c(program: Program) -> str:
    includes = {"#include <stdint.h>"}
    bodies = []
    for k in unique_kernels(program):
        _, body, inc = _prefixed_source(program.prefix, k)
        includes.update(inc)
        bodies.append(body)
    head = ["/* Generated by mbmicro: the model's kernels, one definition per specialization. */"]
    return "\n".join(head + sorted(includes) + [""] + [b + "\n" for b in bodies])


def render_model_h(program: Program) -> str:
    g, p, m = program.graph, program.prefix, program.macro
    x, y = g.input, g.output
    defines = [
        ("INPUT_SIZE", x.nbytes), ("INPUT_HEIGHT", x.shape[1]), ("INPUT_WIDTH", x.shape[2]),
        ("INPUT_CHANNELS", x.shape[3]), ("INPUT_SCALE", repr(float(x.scale))),
        ("INPUT_ZERO_POINT", f"({int(x.zero_point)})"),
        ("OUTPUT_SIZE", y.nbytes), ("OUTPUT_SCALE", repr(float(y.scale))),
        ("OUTPUT_ZERO_POINT", f"({int(y.zero_point)})"),
        ("ARENA_SIZE", program.plan.peak), ("NUM_LAYERS", len(g.nodes)),
    ]
    lines = [
        f"/* Generated by mbmicro: {g.name} for target {program.target.name}. Do not edit. */",
        f"#ifndef {m}_MODEL_H", f"#define {m}_MODEL_H", "", "#include <stdint.h>", "",
        f"/* Input: int8 NHWC {tuple(x.shape)}; output: int8 {tuple(y.shape)}.",
        " * real = SCALE * (q - ZERO_POINT). ARENA_SIZE bytes of static RAM are used. */",
    ]
    lines += [f"#define {m}_{name} {value}" for name, value in defines]
    lines += [
        "", "/* Runs the model once; input and output are the caller's buffers "
        f"({m}_INPUT_SIZE and {m}_OUTPUT_SIZE bytes).", " * Not reentrant (one static arena). Returns 0. */",
        f"int {p}_run(const int8_t *input, int8_t *output);", "", f"#endif /* {m}_MODEL_H */", "",
    ]
    return "\n".join(lines)


def render_app_h(program: Program) -> str:
    """Glue for the fixed runtime/mbmicro_main.c: which model it runs."""
    p, m = program.prefix, program.macro
    return "\n".join([
        "/* Generated by mbmicro: binds mbmicro_main.c to this build's model. */",
        "#ifndef MBMICRO_APP_H", "#define MBMICRO_APP_H", "", f'#include "{p}_model.h"', "",
        f"#define MBMICRO_INPUT_SIZE {m}_INPUT_SIZE", f"#define MBMICRO_OUTPUT_SIZE {m}_OUTPUT_SIZE",
        f"#define MBMICRO_RUN {p}_run", "", "#endif /* MBMICRO_APP_H */", "",
    ])


def render_model_c(program: Program) -> str:
    g, p = program.graph, program.prefix
    lines = [f"/* Generated by mbmicro: {g.name} for target {program.target.name}. Do not edit. */",
             "#include <stdint.h>", "", '#include "mbmicro_hooks.h"', f'#include "{p}_model.h"',
             f'#include "{p}_weights.h"', "", "/* Kernels (" + p + "_kernels.c). */"]
    lines += [_prefixed_source(p, k)[0] for k in unique_kernels(program)]
    if program.plan.peak:
        lines += ["", f"static int8_t {p}_arena[{program.plan.peak}] __attribute__((aligned(16)));"]
    lines += ["", f"int {p}_run(const int8_t *input, int8_t *output)", "{"]
    unused = [name for name in ("input", "output")
              if not any(re.search(rf"\b{name}\b", c.split("(", 1)[1]) for c in program.calls)]
    lines += [f"    (void){name};" for name in unused]
    for i, (node, call) in enumerate(zip(g.nodes, program.calls)):
        out = g.tensors[node.outputs[0]]
        shapes = ", ".join(str(tuple(g.tensors[t].shape)) for t in node.inputs)
        lines += [
            f"    /* {i}: {node.name} ({node.op}) {shapes} -> {tuple(out.shape)}, {macs(g, node)} MACs */",
            f"    MBMICRO_LAYER_BEGIN({i});",
            f"    {call}",
            f"    MBMICRO_LAYER_END({i}, {tensor_pointer(program, node.outputs[0])}, {out.nbytes});",
        ]
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)
