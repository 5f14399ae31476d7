"""Stage 2, reference: what a graph computes, the oracle for kernels and targets.

float32.py: the float interpreter; arith.py: the integer arithmetic of the int8 contract
(docs/INT8_SEMANTICS.md); int8.py: the integer-only int8 interpreter.
"""
