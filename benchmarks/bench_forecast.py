"""Forecasting benchmark: a forecasting task over several seeds, the LSTM beside the
baselines on the same test windows, one JSON result.

    python benchmarks/bench_forecast.py NAME [--seeds 0 1 2] [--threads 1] -- TASK FLAGS
    python benchmarks/bench_forecast.py NAME [--seeds 0 1 2] [--threads 1] -- keras

The first form runs `python -m lstmkit train TASK --seed S --threads T FLAGS --out
runs/bench/forecast-NAME-sS` for each seed, one after another (pollution reads
../shared/data/beijing_pm25, never the network); the second runs the Keras tutorial's
PM2.5 protocol (tasks.pollution.keras_protocol) in this process. Either writes
benchmarks/results/forecast-NAME.json (--runs and --results choose other folders): the
command, git SHA, machine, each seed's test metrics, and per model the mean and standard
deviation over the seeds of every metric.
A seed whose run directory already holds metrics.json is read, not trained again.
Render docs/results.md with `python benchmarks/render_results.py`.
"""

import argparse
import json
import shlex
import subprocess
import sys
import time

import numpy as np
from common import ROOT, SHARED, add_output_arguments, git_sha, machine

PM25 = SHARED / "beijing_pm25" / "pollution.csv"
METRICS = ("rmse", "mae", "mape", "directional_accuracy", "coverage")


def run_seed(runs, name, task, seed, threads, flags):
    """One seed of `lstmkit train task`: its metrics.json."""
    out = runs / f"forecast-{name}-s{seed}"
    data = ["--data", str(PM25)] if task == "pollution" else []
    command = [sys.executable, "-m", "lstmkit", "train", task, *data, "--seed", str(seed),
               "--threads", str(threads), *flags, "--out", str(out)]
    if not (out / "metrics.json").is_file():  # a finished seed is not trained again
        log = out.with_suffix(".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as stream:
            subprocess.run(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT,
                           check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seed": seed, "metrics": {key: metrics[key] for key in
                                      ("test", "test_period", "test_windows", "folds", "epochs",
                                       "wall_time_s")}}


def keras_seed(frame, seed, threads):
    """One seed of the Keras tutorial's protocol, scored like a run's metrics.json."""
    from lstmkit.tasks.pollution import keras_protocol

    start = time.perf_counter()
    scores = keras_protocol(frame, seed=seed, threads=threads)
    return {"seed": seed, "metrics": {"test": scores, "test_windows": scores["lstm"]["n_scored"],
                                      "wall_time_s": time.perf_counter() - start}}


def summary(seeds):
    """{model: {metric: [mean, standard deviation over the seeds]}}."""
    result = {}
    for model in seeds[0]["metrics"]["test"]:
        result[model] = {}
        for metric in METRICS:
            values = np.array([s["metrics"]["test"][model][metric] for s in seeds
                               if metric in s["metrics"]["test"][model]])
            if len(values):
                std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
                result[model][metric] = [float(values.mean()), std]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="threads per training process")
    add_output_arguments(parser)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, (task, *flags) = parser.parse_args(argv[:split]), argv[split + 1:]
    start = time.time()
    if task == "keras":
        from lstmkit.data.pm25 import load_pm25

        frame = load_pm25(PM25)[0]
        seeds = [keras_seed(frame, seed, args.threads) for seed in args.seeds]
    else:
        seeds = [run_seed(args.runs, args.name, task, seed, args.threads, flags)
                 for seed in args.seeds]
    result = {
        "name": args.name, "task": task, "flags": flags,
        "command": "python benchmarks/bench_forecast.py " + shlex.join(sys.argv[1:]),
        "git_sha": git_sha(),
        "machine": machine(),
        "threads": args.threads, "summary": summary(seeds), "seeds": seeds,
        "total_wall_s": time.time() - start,
    }
    path = args.results / f"forecast-{args.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    for model, metrics in result["summary"].items():
        print(f"{args.name} {model}: RMSE {metrics['rmse'][0]:.4g} +- {metrics['rmse'][1]:.2g}")
    print(path)


if __name__ == "__main__":
    main()
