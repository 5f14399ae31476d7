"""Stage 5, formats: files other tools read and write.

onnx_float.py / onnx_qdq.py: ONNX export; onnx_oracle.py: onnxruntime as the exact oracle for them;
onnx_import.py: a float ONNX model (torch.onnx.export, tf2onnx) -> float Graph.
elf.py: section sizes and symbols of the objects and images the toolchains write (pyelftools).
"""
