"""Stage 1, graph: the IR all stages share, and its serialization.

ir.py: tensors, nodes, ops and shape rules; serialize.py: graph.json + graph.npz in a build folder;
files.py: bounded, non-blocking readers of .npy and JSON files mbmicro did not write;
liveness.py: arena buffers and lifetimes, shared by the planner and the size estimate.
"""
