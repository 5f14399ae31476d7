"""Ahead-of-time C for a whole model: ``<prefix>_model.h/.c`` and ``<prefix>_kernels.c``.

Why AOT and not an interpreter: the model is known at build time, so the
generated ``<prefix>_run`` is a straight list of kernel calls with constant
arena offsets, weight symbols and integer arguments; there is no runtime,
no op table and no allocation, and the compiler sees every call site.

Symbols are prefixed (``<prefix>_run``, ``<prefix>_<kernel>``,
``<prefix>_w_*``, ``<prefix>_arena``) so that two generated models link into
one firmware.  The caller's input buffer is read in place by every kernel
that needs the graph input, and the last kernel writes the caller's output
buffer directly: neither is copied nor kept in the arena -- unless the build
asks for them in the arena (``--io-in-arena``), where the planner may reuse
the input's bytes once it is dead.

The API (docs/MODEL_LIBRARY.md) follows TFLite Micro and X-CUBE-AI: the
arena is the caller's (``<prefix>_run_with_arena``, ``<PREFIX>_ARENA_SIZE``
exact, ``<PREFIX>_ARENA_ALIGN``, checked, with return codes), so models may
share one, or a static one (``<prefix>_run``) placed by the overridable
``<PREFIX>_ARENA_SECTION``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mbmicro import progress
from mbmicro.codegen.planner import ALIGN, MemoryPlan, plan_graph
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
    calls: list[str]       # the C call statement of each node (None inside a fused region)
    regions: list = None   # fused regions (mbmicro.graph.fusion.Region), in order
    memory: str = "fast"   # build --memory mode the regions come from
    region_lines: dict = None  # region start -> its C statements (codegen/fused.py)
    provenance: object = None  # codegen.provenance.Provenance, set by the project writer: the model's signature

    @property
    def macro(self) -> str:
        return self.prefix.upper()

    @property
    def io_in_arena(self) -> bool:
        return self.plan.io_in_arena


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
                knobs: dict | None = None, io_in_arena: bool = False, memory: str = "fast",
                row_knobs=None) -> Program:
    """Lower every node (``lower`` defaults to codegen.kernels.lower_node), plan the arena
    (with the graph input and output in it when ``io_in_arena``).

    ``memory`` (``build --memory``, mbmicro.graph.fusion): the nodes of each fused
    region are lowered on rows (codegen/fused.py) and the region is one planner step.
    ``knobs`` (per node name) are for whole-tensor kernels; ``row_knobs(row_graph, node)``
    gives a fused node's row kernel its knobs (codegen.fused.lower_region; None: defaults)."""
    from mbmicro.codegen import fused
    from mbmicro.graph.fusion import family_of

    if lower is None:
        from mbmicro.codegen.kernels import lower_node as lower
    knobs = knobs or {}
    regions = fused.build_regions(graph, memory, io_in_arena, family_of(target.features))
    kernels: list = [None] * len(graph.nodes)
    for r in regions:
        kernels[r.start:r.end + 1] = fused.lower_region(graph, r, target, lower, row_knobs)
    kernels = [k if k is not None else lower(graph, node, target, knobs.get(node.name))
               for node, k in progress.track(list(zip(graph.nodes, kernels)), desc="lowering", unit="layer",
                                             name=lambda nk: nk[0].name)]
    # kernel scratch lives on the stack (NodeKernel.scratch_bytes); region rings in the arena
    plan = plan_graph(graph, io_in_arena=io_in_arena, regions=regions)
    weights = WeightTable(prefix)
    program = Program(graph, target, prefix, kernels, plan, weights, [], regions, memory)
    starts = {r.start: r for r in regions}
    inside = {i for r in regions for i in range(r.start, r.end + 1)}
    program.calls, program.region_lines = [], {}
    for i, k in enumerate(kernels):  # node order: weight symbols are added in execution order
        if i in starts:
            r = starts[i]
            program.region_lines[i] = fused.render_region(program, r, kernels[r.start:r.end + 1],
                                                          lambda j, kern, ptr: _call(program, j, kern, ptr),
                                                          tensor_pointer)
        program.calls.append(None if i in inside else _call(program, i, k))
    return program


def tensor_pointer(program: Program, tensor: str) -> str:
    """C expression of the int8 buffer that holds ``tensor``."""
    graph = program.graph
    if tensor in graph.inputs:
        return "input"
    if tensor in graph.outputs:
        return "output"
    return f"arena + {program.plan.offsets[tensor]}"


def _cast(expr: str, ctype: str) -> str:
    base = ctype.replace("const", "").replace("*", "").strip()
    return expr if base == "int8_t" else f"({ctype})({expr})"


def _call(program: Program, step: int, kernel, pointers: dict | None = None) -> str:
    """One kernel call; ``pointers`` (fused regions) maps tensor -> C expression of its rows."""
    node = program.graph.nodes[step]
    args = []
    for arg in kernel.args:
        if arg.kind in ("input", "output"):
            if arg.kind == "output" and arg.value in program.graph.inputs:
                raise ValueError(f"node {node.name}: writes the graph input {arg.value}")
            if pointers is not None:
                args.append(_cast(pointers[arg.value], arg.ctype))
                continue
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
        elif arg.kind == "row" and pointers is not None:  # a value of the fused region's loop
            args.append(pointers[arg.value])
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


#: Return codes of ``<prefix>_run`` and ``<prefix>_run_with_arena`` (``<PREFIX>_OK`` ...).
RETURN_CODES = (
    ("OK", "0", "the output is written"),
    ("ERROR_NULL", "(-1)", "the arena, input or output is NULL"),
    ("ERROR_ALIGN", "(-2)", "the arena is not aligned to ARENA_ALIGN bytes"),
    ("ERROR_IO", "(-3)", "--io-in-arena build: input/output are not <prefix>_input/_output(arena)"),
)


def _io_offsets(program: Program) -> tuple[int, int]:
    g = program.graph
    return program.plan.offsets[g.inputs[0]], program.plan.offsets[g.outputs[0]]


def render_model_h(program: Program) -> str:
    g, p, m = program.graph, program.prefix, program.macro
    x, y = g.input, g.output
    defines = [
        ("INPUT_SIZE", x.nbytes), ("INPUT_HEIGHT", x.shape[1]), ("INPUT_WIDTH", x.shape[2]),
        ("INPUT_CHANNELS", x.shape[3]), ("INPUT_SCALE", repr(float(x.scale))),
        ("INPUT_ZERO_POINT", f"({int(x.zero_point)})"),
        ("OUTPUT_SIZE", y.nbytes), ("OUTPUT_SCALE", repr(float(y.scale))),
        ("OUTPUT_ZERO_POINT", f"({int(y.zero_point)})"),
        ("ARENA_SIZE", program.plan.peak), ("ARENA_ALIGN", ALIGN), ("NUM_LAYERS", len(g.nodes)),
    ]
    codes = [c for c in RETURN_CODES if program.io_in_arena or c[0] != "ERROR_IO"]
    lines = [
        f"/* Generated by mbmicro: {g.name} for target {program.target.name}. Do not edit. */",
        f"#ifndef {m}_MODEL_H", f"#define {m}_MODEL_H", "", "#include <stdint.h>", "",
        "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
        f"/* Input: int8 NHWC {tuple(x.shape)}; output: int8 {tuple(y.shape)}.",
        " * real = SCALE * (q - ZERO_POINT). The arena is ARENA_SIZE bytes (exactly what the memory plan",
        " * needs) on an ARENA_ALIGN-byte boundary. */",
    ]
    lines += [f"#define {m}_{name} {value}" for name, value in defines]
    if program.provenance is not None:
        from mbmicro.codegen.provenance import c_defines

        lines += c_defines(program.provenance, m)
    lines += ["", f"/* Return codes of {p}_run and {p}_run_with_arena. */"]
    lines += [f"#define {m}_{name} {value} /* {why} */" for name, value, why in codes]
    if program.io_in_arena:
        lines += _io_accessors_h(program)
    io = ("input and output at " + f"{p}_input(arena) and {p}_output(arena)" if program.io_in_arena
          else f"input and output are the caller's buffers ({m}_INPUT_SIZE and {m}_OUTPUT_SIZE bytes)")
    lines += [
        "", f"/* Runs the model once in the caller's arena ({m}_ARENA_SIZE bytes on a {m}_ARENA_ALIGN-byte",
        " * boundary: any RAM, e.g. DTCM, or one buffer shared by several models run one after another);",
        f" * {io}.",
        " * The arena holds nothing between calls. Reentrant for distinct arenas. Returns a code above. */",
        f"int {p}_run_with_arena(void *arena, const int8_t *input, int8_t *output);",
        "", f"#ifndef {m}_NO_STATIC_ARENA",
        f"/* Runs the model once in the static arena {p}_arena, placed by {m}_ARENA_SECTION when {p}_model.c",
        f" * is compiled (e.g. -D'{m}_ARENA_SECTION=__attribute__((section(\".dtcm\")))'); compile with",
        f" * -D{m}_NO_STATIC_ARENA to drop both and use {p}_run_with_arena only. Not reentrant. */",
    ]
    if program.plan.peak:
        lines += [f"extern int8_t {p}_arena[{m}_ARENA_SIZE];"]
    lines += [f"int {p}_run(const int8_t *input, int8_t *output);", "#endif", "",
              "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {m}_MODEL_H */", ""]
    return "\n".join(lines)


def _io_accessors_h(program: Program) -> list[str]:
    """--io-in-arena: where in an arena the input goes and the output comes from."""
    p, m = program.prefix, program.macro
    inp, out = _io_offsets(program)
    return [
        "", "/* Built with --io-in-arena: the input and output live in the arena. Write the input to",
        f" * {p}_input(arena), run, read the output from {p}_output(arena). The run overwrites the",
        " * input (its bytes are reused once the layers that read it are done). */",
        f"#define {m}_IO_IN_ARENA 1", f"#define {m}_INPUT_OFFSET {inp}", f"#define {m}_OUTPUT_OFFSET {out}",
        f"static inline int8_t *{p}_input(void *arena) {{ return (int8_t *)arena + {m}_INPUT_OFFSET; }}",
        f"static inline int8_t *{p}_output(void *arena) {{ return (int8_t *)arena + {m}_OUTPUT_OFFSET; }}",
    ]


def render_app_h(program) -> str:
    """Glue for the fixed runtime/mbmicro_main.c: which model it runs, and how."""
    p, m = program.prefix, program.macro
    lines = [
        "/* Generated by mbmicro: binds mbmicro_main.c to this build's model. */",
        "#ifndef MBMICRO_APP_H", "#define MBMICRO_APP_H", "", f'#include "{p}_model.h"', "",
        f"#define MBMICRO_INPUT_SIZE {m}_INPUT_SIZE", f"#define MBMICRO_OUTPUT_SIZE {m}_OUTPUT_SIZE",
        f"#define MBMICRO_ARENA_SIZE {m}_ARENA_SIZE", f"#define MBMICRO_ARENA_ALIGN {m}_ARENA_ALIGN",
        f"#define MBMICRO_RUN {p}_run", f"#define MBMICRO_RUN_WITH_ARENA {p}_run_with_arena",
    ]
    if getattr(program, "io_in_arena", False):
        lines += [f"#define MBMICRO_STATIC_ARENA {p}_arena",
                  f"#define MBMICRO_INPUT(arena) {p}_input(arena)", f"#define MBMICRO_OUTPUT(arena) {p}_output(arena)"]
    lines += ["", "#endif /* MBMICRO_APP_H */", ""]
    return "\n".join(lines)


def render_model_c(program: Program) -> str:
    g, p, m = program.graph, program.prefix, program.macro
    lines = [f"/* Generated by mbmicro: {g.name} for target {program.target.name}. Do not edit. */",
             "#include <stdint.h>", "", '#include "mbmicro_hooks.h"', f'#include "{p}_model.h"',
             f'#include "{p}_weights.h"', *(['#include "mbmicro_fused.h"'] if program.regions else []),
             *(['#include "mbmicro_depthwise.h"'] if any(any(r.wide) for r in program.regions) else []),
             "", "/* Kernels (" + p + "_kernels.c). */"]
    lines += [_prefixed_source(p, k)[0] for k in unique_kernels(program)]
    lines += ["", f"int {p}_run_with_arena(void *arena_memory, const int8_t *input, int8_t *output)", "{"]
    lines += _checks(program)
    regions = {r.start: r for r in program.regions or ()}
    for i, (node, call) in enumerate(zip(g.nodes, program.calls)):
        if i in regions:
            lines += _region_lines(program, regions[i])
            continue
        if call is None:
            continue
        out = g.tensors[node.outputs[0]]
        shapes = ", ".join(str(tuple(g.tensors[t].shape)) for t in node.inputs)
        lines += [
            f"    /* {i}: {node.name} ({node.op}) {shapes} -> {tuple(out.shape)}, {macs(g, node)} MACs */",
            f"    MBMICRO_LAYER_BEGIN({i});",
            f"    {call}",
            f"    MBMICRO_LAYER_END({i}, {tensor_pointer(program, node.outputs[0])}, {out.nbytes});",
        ]
    lines += [f"    return {m}_OK;", "}", "", f"#ifndef {m}_NO_STATIC_ARENA"]
    if program.plan.peak:
        lines += [f"#ifndef {m}_ARENA_SECTION", f"#define {m}_ARENA_SECTION", "#endif",
                  f"int8_t {p}_arena[{m}_ARENA_SIZE] {m}_ARENA_SECTION __attribute__((aligned({m}_ARENA_ALIGN)));"]
    arena = f"{p}_arena" if program.plan.peak else "(void *)0"
    lines += ["", f"int {p}_run(const int8_t *input, int8_t *output)", "{",
              f"    return {p}_run_with_arena({arena}, input, output);", "}", "#endif", ""]
    return "\n".join(lines)


def _region_lines(program: Program, region) -> list[str]:
    """A fused region between the hooks of its first and last layer (its output is the last one's)."""
    g = program.graph
    out = g.tensors[region.output]
    names = " -> ".join(region.nodes)
    mac = sum(macs(g, g.nodes[i]) for i in range(region.start, region.end + 1))
    return [f"    /* {region.start}-{region.end}: fused rows {names}; "
            f"{tuple(g.tensors[region.input].shape)} -> {tuple(out.shape)}, {mac} MACs */",
            f"    MBMICRO_LAYER_BEGIN({region.start});",
            *program.region_lines[region.start],
            f"    MBMICRO_LAYER_END({region.end}, {tensor_pointer(program, region.output)}, {out.nbytes});"]


def _checks(program: Program) -> list[str]:
    """The argument checks of run_with_arena: NULL, alignment, and (--io-in-arena) the I/O pointers."""
    p, m = program.prefix, program.macro
    if not program.plan.peak:  # nothing lives in the arena: it may be NULL
        return ["    (void)arena_memory;", "    if (input == 0 || output == 0)", f"        return {m}_ERROR_NULL;"]
    lines = ["    int8_t *arena = (int8_t *)arena_memory;",
             "    if (arena == 0 || input == 0 || output == 0)", f"        return {m}_ERROR_NULL;",
             f"    if ((uintptr_t)arena % {m}_ARENA_ALIGN != 0)", f"        return {m}_ERROR_ALIGN;"]
    if program.io_in_arena:
        lines += [f"    if (input != {p}_input(arena) || output != {p}_output(arena))", f"        return {m}_ERROR_IO;"]
    return lines
