"""Stage 5, formats: files other tools read and write.

onnx_float.py / onnx_qdq.py: ONNX export; onnx_oracle.py: onnxruntime as the exact oracle for them.
"""
