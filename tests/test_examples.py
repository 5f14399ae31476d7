"""The examples compile and give the reference's answer, so they never go stale."""

import re
import subprocess
from pathlib import Path

import numpy as np

from mbmicro.graph import serialize as graph_io
from mbmicro.cli import main
from mbmicro.reference.int8 import run_int8

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_firmware_loop_matches_the_reference(tmp_path):
    out = tmp_path / "net"
    assert main(["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "96",
                 "--classes", "10", "--target", "host", "--prefix", "net", "-o", str(out)]) == 0
    exe = tmp_path / "loop"
    sources = [EXAMPLES / "firmware_loop.c", *(out / "model" / f for f in
               ("net_model.c", "net_kernels.c", "net_weights.c"))]
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{out / 'model'}",
                    *map(str, sources), "-o", str(exe)], check=True)
    printed = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout

    graph = graph_io.load_graph(out)
    x = np.full(graph.input.shape, graph.input.zero_point, dtype=np.int8)
    scores = run_int8(graph, x).ravel()
    classes = [int(c) for c in re.findall(r"class (\d+)", printed)]
    assert classes == [int(np.argmax(scores))] * 3, printed
