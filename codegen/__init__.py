"""Stage 7, codegen: int8 graph -> a C project.

Shipped as mbmicro.codegen. ops/: TVM kernels, one file per op; knobs, TVM-to-C lowering, memory
planner, AOT emitter, weights layout, project writer and report; runtime/ and templates/ are plain files.
"""
