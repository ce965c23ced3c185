"""benchmarks/bench_rnn.py end to end on a tiny configuration, so the script cannot rot:
every implementation, both cells, both modes, one child process per implementation for
memory, the JSON fields, and docs/benchmarks.md rendered from the JSON."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_rnn.py"
IMPLS = ["lstmkit", "lstmkit-numpy", "torch", "floor"]


def test_bench_rnn_runs_end_to_end_and_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(SCRIPT), "--configs", "smoke=2,5,3,4", "--repeats", "3",
               "--threads", "1", "--settle", "0", "--memory-impls", "lstmkit,floor",
               "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "threads [1], dtype float32" in run.stdout and "pool blas" in run.stdout

    result = json.loads(out.read_text())
    assert "bench_rnn.py --configs smoke=2,5,3,4" in result["command"]
    assert result["git_sha"] == "uncommitted" or len(result["git_sha"]) == 40
    assert result["repeats"] == 3 and result["threads"] == [1] and result["dtype"] == "float32"
    assert result["configs"] == {"smoke": {"N": 2, "T": 5, "D": 3, "H": 4}}
    env = result["environment"]
    assert env["numpy"] and env["torch"] and env["numba"] and env["cores"] >= 1
    assert env["cpu_name"] and any(pool["api"] == "blas" and pool["architecture"]
                                   for pool in env["blas_pools"])

    rows = result["timings"]
    assert {(r["cell"], r["mode"]) for r in rows} == {
        (cell, mode) for cell in ("LSTM", "GRU") for mode in ("forward", "train")}
    for row in rows:
        assert row["config"] == "smoke" and row["threads"] == 1
        assert sorted(row["median_s"]) == sorted(IMPLS)
        assert all(t > 0 for t in row["median_s"].values())
        assert row["torch_over_lstmkit"] == row["median_s"]["torch"] / row["median_s"]["lstmkit"]
        for ratio in ("torch_over_numpy_path", "lstmkit_over_floor", "torch_over_floor"):
            assert row[ratio] > 0

    assert len(result["memory"]) == 2  # one row per cell
    for row in result["memory"]:
        assert set(row) >= {"config", "cell", "threads", "lstmkit", "floor"}
        assert "torch" not in row
        for impl in ("lstmkit", "floor"):
            assert row[impl]["peak_rss_mib"] > 10 and row[impl]["step_mib"] >= 0
        # the fast path's first step also imports numba and loads the cached kernels
        assert row["lstmkit"]["first_step_s"] > row["lstmkit"]["second_step_s"] > 0

    md = tmp_path / "benchmarks.md"
    render = subprocess.run([sys.executable, str(SCRIPT), "--render", str(out), "--to", str(md)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert render.returncode == 0, render.stderr
    text = md.read_text()
    assert text.startswith("# Benchmarks")
    assert "| smoke (2, 5, 3, 4) | LSTM | 1 | train |" in text
    assert "## Peak memory of the training step" in text and result["command"] in text
    startup = text.split("## Start-up")[1].split("##")[0]
    first = result["memory"][0]["lstmkit"]
    assert "| configuration | cell | lstmkit |" in startup  # the floor has no start-up column
    assert (f"| smoke | LSTM | {first['first_step_s'] - first['second_step_s']:.2f} |"
            in startup)
    assert f"({env['cpu_name']})" in text

    # the targets: read from every run given, met or not in each (the smoke shape renamed to
    # one of the configurations at its 2 threads, with ratios on either side; the
    # floor's bound is a most value, the others' a least value: both sides of each checked)
    paths = []
    for k, (ratio, over_floor, numpy_path) in enumerate(((0.95, 1.10, 0.70), (0.85, 1.12, 0.65))):
        run_k = json.loads(out.read_text())
        for row in run_k["timings"]:
            row.update(config="charlm", threads=2, torch_over_lstmkit=ratio,
                       lstmkit_over_floor=over_floor, torch_over_numpy_path=numpy_path)
        run_k["configs"] = {"charlm": run_k["configs"]["smoke"]}
        paths.append(tmp_path / f"run{k}.json")
        paths[-1].write_text(json.dumps(run_k))
    render = subprocess.run([sys.executable, str(SCRIPT), "--render", *map(str, paths)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert render.returncode == 0, render.stderr
    targets = render.stdout.split("## Targets at 2 threads, run by run")[1]
    assert "| torch / lstmkit >= 0.9 | charlm | LSTM | train | 0.95 | 0.85 | 1 of 2 |" in targets
    assert "| lstmkit / floor <= 1.15 | charlm | GRU | forward | 1.10 | 1.12 | 2 of 2 |" in (
        targets)
    assert "| torch / numpy path >= 0.6 | charlm | LSTM | train | 0.70 | 0.65 | 2 of 2 |" in (
        targets)
    assert "mnist" not in targets and "stock" not in targets  # not run: not listed
