"""docs/results.md and docs/benchmarks.md are generated, never edited by hand: rendering the
committed JSON and notes again gives the committed files, byte for byte."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def render(command, tmp_path):
    out = tmp_path / "rendered.md"
    run = subprocess.run([sys.executable, *command, "--to", str(out)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return out.read_text()


def test_results_md_is_the_rendering_of_the_results_json(tmp_path):
    rendered = render(["benchmarks/render_results.py"], tmp_path)
    assert "## MNIST read row by row" in rendered and "## Forecasting" in rendered
    assert rendered == (ROOT / "docs" / "results.md").read_text(), (
        "docs/results.md differs from its rendering: run python benchmarks/render_results.py")


def test_benchmarks_md_is_the_rendering_of_the_three_bench_rnn_runs(tmp_path):
    runs = [f"benchmarks/bench_rnn-run{k}.json" for k in (1, 2, 3)]
    rendered = render(["benchmarks/bench_rnn.py", "--render", *runs,
                       "--notes", "benchmarks/bench_rnn_notes.md"], tmp_path)
    assert "| run 1 | run 2 | run 3 | met |" in rendered
    assert rendered == (ROOT / "docs" / "benchmarks.md").read_text(), (
        "docs/benchmarks.md differs from its rendering: see the command at its top")
