"""MNIST benchmark: `lstmkit train mnist` on the full data, several seeds, one JSON result.

    python benchmarks/bench_mnist.py NAME [--seeds 0 1 2] [--jobs 2] [--threads 1] -- FLAGS

runs `python -m lstmkit train mnist --data-dir ../shared/data/mnist --seed S --threads T
FLAGS --out runs/bench/mnist-NAME-sS` for each seed (JOBS at a time), then writes
benchmarks/results/mnist-NAME.json (--runs and --results choose other folders): the command,
git SHA, machine, each seed's metrics.json and epoch times, and the mean and standard
deviation of the test accuracy. Render docs/results.md from all results with
`python benchmarks/render_results.py`. A seed whose run directory already holds
metrics.json is read, not trained again.
"""

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import ROOT, SHARED, add_output_arguments, git_sha, machine

MNIST = SHARED / "mnist"


def run_seed(runs, name, seed, threads, flags):
    out = runs / f"mnist-{name}-s{seed}"
    command = [sys.executable, "-m", "lstmkit", "train", "mnist", "--data-dir", str(MNIST),
               "--seed", str(seed), "--threads", str(threads), *flags, "--out", str(out)]
    log = out.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    if not (out / "metrics.json").is_file():  # a finished seed is not trained again
        with open(log, "w") as stream:
            subprocess.run(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT,
                           check=True)
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "history.csv") as stream:
        history = list(csv.DictReader(stream))
    return {"seed": seed, "metrics": metrics,
            "epoch_time_s": [float(row["epoch_time_s"]) for row in history],
            "val_accuracy": [float(row["val_accuracy"]) for row in history]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="seeds trained at once")
    parser.add_argument("--threads", type=int, default=1, help="threads per training process")
    add_output_arguments(parser)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, flags = parser.parse_args(argv[:split]), argv[split + 1:]
    start = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        seeds = list(pool.map(lambda s: run_seed(args.runs, args.name, s, args.threads, flags),
                              args.seeds))
    accuracy = np.array([s["metrics"]["test"]["accuracy"] for s in seeds])
    result = {
        "name": args.name,
        "command": "python benchmarks/bench_mnist.py " + shlex.join(sys.argv[1:]),
        "git_sha": git_sha(),
        "machine": machine(),
        "jobs": args.jobs, "threads": args.threads, "flags": flags,
        "test_accuracy_mean": float(accuracy.mean()),
        "test_accuracy_std": float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0,
        "epoch_time_s_mean": float(np.mean([t for s in seeds for t in s["epoch_time_s"]])),
        "seeds": seeds, "total_wall_s": time.time() - start,
    }
    path = args.results / f"mnist-{args.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.name}: test accuracy {accuracy.mean():.4f} +- {result['test_accuracy_std']:.4f}"
          f" over seeds {args.seeds}; {path}")


if __name__ == "__main__":
    main()
