"""What the task benchmarks (bench_mnist, bench_forecast, bench_text, bench_d2l_timemachine)
share: the git SHA, the machine, and where results and run directories go."""

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def git_sha():
    """HEAD's SHA, with "+uncommitted" when src/ has changes that are not committed."""
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+uncommitted" if dirty else "")


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def add_output_arguments(parser):
    """--results (the JSON's folder) and --runs (the run directories' folder)."""
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of the JSON result (default: benchmarks/results)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench",
                        help="folder of the run directories (default: runs/bench)")
