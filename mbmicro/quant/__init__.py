"""Stage 4, quant: float graph -> int8 graph.

ptq.py: post-training quantization with calibration images; lut.py: activation lookup tables.
"""
