"""Run every benchmark script and assemble BENCHMARKS.md.

Why one file per benchmark under benchmarks/results/: scripts can be re-run
one at a time (they are slow: the full model x target matrix), and
BENCHMARKS.md is always the concatenation of the latest results.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["accuracy.py", "planner.py", "memory.py", "se_two_pass.py", "targets.py", "fused_modes.py", "cmsis_nn.py",
           "depthwise.py", "imports.py", "tune.py"]


def assemble() -> str:
    parts = [
        "# mbmicro benchmarks\n",
        "Written by `benchmarks/run_all.py` (`make benchmarks`); each section comes from one script "
        "under `benchmarks/` and its file in `benchmarks/results/`.\n",
    ]
    for script in SCRIPTS:
        result = HERE / "results" / (Path(script).stem + ".md")
        if result.exists():
            parts.append(result.read_text().rstrip() + "\n")
        else:
            parts.append(f"## {Path(script).stem}\n\nNot measured yet: run `python benchmarks/{script}`.\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    only = argv[1:] or SCRIPTS
    for script in only:
        path = HERE / script
        if not path.exists():
            print(f"skipping {script}: not written yet")
            continue
        print(f"== {script} ({datetime.datetime.now():%H:%M:%S})", flush=True)
        subprocess.run([sys.executable, str(path)], check=True)
    (HERE.parent / "BENCHMARKS.md").write_text(assemble())
    print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
