"""The benchmark scripts as modules, for the tests of benchmarks/*.py.

Why by path: benchmarks/ is not a package, and putting it on sys.path would let its
``targets.py`` shadow the ``targets`` folder.  Each script is registered in sys.modules as
``mbmicro_bench_<name>`` (dataclasses look their module up there, and benchmarks/fused_modes.py
finds targets.py under the same name), and loaded once.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    """benchmarks/<name>.py as the module ``mbmicro_bench_<name>``."""
    key = f"mbmicro_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
