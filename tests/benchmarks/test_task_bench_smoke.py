"""The task benchmarks end to end on tiny runs, so the scripts cannot rot: bench_mnist,
bench_forecast and bench_text write their JSON (into tmp_path, never benchmarks/results),
its summary agrees with the seeds it holds, and render_results renders it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def bench(script, *argv, tmp_path):
    command = [sys.executable, f"benchmarks/{script}", *argv[:1], "--results",
               str(tmp_path / "results"), "--runs", str(tmp_path / "runs"), *argv[1:]]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def render(tmp_path):
    out = tmp_path / "results.md"
    run = subprocess.run([sys.executable, "benchmarks/render_results.py", "--results",
                          str(tmp_path / "results"), "--to", str(out)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return out.read_text()


def test_bench_mnist_two_seeds_side_by_side(tmp_path):
    bench("bench_mnist.py", "smoke", "--seeds", "0", "1", "--jobs", "2", "--threads", "1", "--",
          "--train-size", "300", "--test-size", "100", "--epochs", "1", "--hidden-size", "8",
          "--batch-size", "50", "--warmup-epochs", "0", tmp_path=tmp_path)
    result = json.loads((tmp_path / "results" / "mnist-smoke.json").read_text())
    accuracy = [seed["metrics"]["test"]["accuracy"] for seed in result["seeds"]]
    assert [seed["seed"] for seed in result["seeds"]] == [0, 1]
    assert result["test_accuracy_mean"] == np.mean(accuracy)
    assert result["test_accuracy_std"] == np.std(accuracy, ddof=1)
    assert all(len(seed["epoch_time_s"]) == 1 for seed in result["seeds"])
    assert (tmp_path / "runs" / "mnist-smoke-s1" / "metrics.json").is_file()
    assert "--train-size 300" in result["command"] and result["jobs"] == 2
    assert "| smoke | `--train-size 300" in render(tmp_path)


def test_bench_forecast_scores_every_model_over_the_seeds(tmp_path):
    bench("bench_forecast.py", "smoke", "--seeds", "0", "1", "--", "weather", "--epochs", "1",
          "--hidden-size", "4", tmp_path=tmp_path)
    result = json.loads((tmp_path / "results" / "forecast-smoke.json").read_text())
    assert set(result["summary"]) == {"lstm", "persistence", "seasonal_persistence", "linear"}
    for model, metrics in result["summary"].items():
        rmse = [seed["metrics"]["test"][model]["rmse"] for seed in result["seeds"]]
        assert metrics["rmse"] == [np.mean(rmse), np.std(rmse, ddof=1)]
    assert result["summary"]["linear"]["rmse"][1] == 0  # the baselines have no seed
    assert "coverage" in result["summary"]["lstm"]
    assert "| smoke | `weather --epochs 1 --hidden-size 4` | lstm |" in render(tmp_path)


def test_bench_text_records_a_run_and_does_not_resume_a_finished_one(tmp_path):
    argv = ["smoke", "--corpus", "timemachine", "--threads", "1", "--", "--letters-only",
            "--epochs", "1", "--hidden-size", "8", "--batch-size", "32", "--bptt-steps", "32"]
    bench("bench_text.py", *argv, tmp_path=tmp_path)
    path = tmp_path / "results" / "text-smoke.json"
    first = json.loads(path.read_text())
    assert first["finished"] and len(first["history"]) == 1 and len(first["parts"]) == 1
    assert first["metrics"]["validation"]["loss_nats"] == first["history"][0]["val_loss"]
    out = bench("bench_text.py", *argv, tmp_path=tmp_path)
    second = json.loads(path.read_text())
    assert "finished" in out and len(second["parts"]) == 2
    assert second["metrics"] == first["metrics"] and second["history"] == first["history"]
    assert "| smoke | timemachine |" in render(tmp_path)
