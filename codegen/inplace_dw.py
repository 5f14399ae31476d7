"""C of an in-place depthwise (``build --memory inplace``, and balanced/min outside fused regions).

Why a delay buffer and not a second tensor: the depthwise output is written over its
own input (TinyEngine's in-place depthwise), so an unfused block holds one of its two
expanded tensors.  Output row ``o`` is computed by the node's own TVM row kernel
(lowered on (KH, W, C) -> (1, Wo, C) by codegen/fused.py, like a fused stage) into
slot ``o % D`` of a D-row delay buffer, and rows are copied back over the input once
no later output row reads their bytes (mbmicro.graph.fusion.inplace_flushed: for
stride 1 the last pad_top rows wait, for stride 2 the smaller output mostly goes
straight behind the rows already consumed).  D is fusion.inplace_delay.
"""

from __future__ import annotations

from mbmicro.graph.fusion import Region


def render_inplace(program, region: Region, kernels: list, call, tensor_pointer, zero_point) -> list[str]:
    """The C statements of one in-place depthwise region (inside ``run_with_arena``)."""
    base, _ = program.plan.scratch[region.start]
    layout = region.scratch_layout()
    s = region.stages[0]
    rows, irb, orb = region.delay_rows, s.in_row_bytes, s.out_row_bytes
    x = tensor_pointer(program, region.input)
    y = tensor_pointer(program, region.output)
    lines = ["    {",
             f"        int8_t *const delay = arena + {base + layout[-1][0]}; /* {rows} output rows of {orb} B */"]
    if region.window_scratch:
        lines.append(f"        int8_t *const window = arena + {base + layout[-2][0]};")
        src = (f"mbmicro_fused_window({x}, {s.in_rows}, {irb}, o * {s.stride} - {s.pad_top}, "
               f"{s.window_rows}, {zero_point(s.chain_input)}, window)")
    else:
        src = f"{x} + o * {s.stride} * {irb}"
    node = program.graph.node(s.node)
    kernel_call = call(region.start, kernels[0], {s.chain_input: src, node.outputs[0]: f"delay + (o % {rows}) * {orb}"})
    lines += ["        int32_t o, q = 0;",
              f"        for (o = 0; o < {s.out_rows}; ++o) {{",
              f"            {kernel_call}",
              "            {  /* rows whose bytes no later output row reads (fusion.inplace_flushed) */",
              f"                const int32_t first = (o + 1) * {s.stride} - {s.pad_top};",
              f"                const int32_t ready = o + 1 >= {s.out_rows} ? {s.out_rows}"
              f" : mbmicro_fused_min(o + 1, (first > 0 ? first : 0) * {irb} / {orb});",
              "                for (; q < ready; ++q)",
              f"                    mbmicro_fused_copy({y} + q * {orb}, delay + (q % {rows}) * {orb}, {orb});",
              "            }",
              "        }",
              "    }"]
    return lines
