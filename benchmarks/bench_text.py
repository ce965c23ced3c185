"""Language-model benchmark: `lstmkit train text` on a real corpus, one JSON result per run.

    python benchmarks/bench_text.py NAME --corpus shakespeare|timemachine [--threads 1]
                                    [--stop-after SECONDS] -- FLAGS

runs `python -m lstmkit train text --text ../shared/data/<corpus file> --threads T FLAGS
--out runs/bench/text-NAME` (the corpus is read from ../shared/data beside the repository,
never downloaded), then writes benchmarks/results/text-NAME.json (--runs and --results
choose other folders): the command, git SHA, machine, flags, metrics.json and the whole
curve (history.csv). A finished run is recorded again, not trained. A long run goes in parts:
--stop-after sends Ctrl-C after that many seconds (the run checkpoints mid-epoch and the
JSON records the curve so far with "finished": false); running the same NAME again resumes
it (`lstmkit train text --resume`) and appends to the record of its parts. Render
docs/results.md with `python benchmarks/render_results.py`.
"""

import argparse
import csv
import json
import shlex
import signal
import subprocess
import sys
import time

from common import ROOT, SHARED, add_output_arguments, git_sha, machine

CORPORA = {"shakespeare": SHARED / "tinyshakespeare" / "input.txt",
           "timemachine": SHARED / "timemachine" / "timemachine.txt"}


def run(command, log, stop_after):
    """Run command (output appended to log); Ctrl-C it after stop_after seconds if set."""
    with open(log, "a") as stream:
        child = subprocess.Popen(command, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
        try:
            child.wait(timeout=stop_after)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)  # the trainer checkpoints after its batch
            child.wait()
    if child.returncode:
        raise SystemExit(f"{shlex.join(command)} failed with code {child.returncode}; see {log}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    parser.add_argument("--threads", type=int, default=1, help="threads of the training process")
    parser.add_argument("--stop-after", type=float, help="Ctrl-C the run after this many "
                        "seconds (resume it by running the same command again)")
    add_output_arguments(parser)
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, flags = parser.parse_args(argv[:split]), argv[split + 1:]
    out = args.runs / f"text-{args.name}"
    path = args.results / f"text-{args.name}.json"
    record = json.loads(path.read_text()) if path.is_file() else {"parts": []}
    if (out / "config.json").is_file():
        command = [sys.executable, "-m", "lstmkit", "train", "text", "--resume", str(out)]
    else:
        command = [sys.executable, "-m", "lstmkit", "train", "text", "--text",
                   str(CORPORA[args.corpus]), "--threads", str(args.threads), *flags,
                   "--out", str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if not (out / "metrics.json").is_file():  # a finished run is recorded, not resumed
        run(command, out.with_suffix(".log"), args.stop_after)
    with open(out / "history.csv") as stream:
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(stream)]
    finished = (out / "metrics.json").is_file()
    record.update({
        "name": args.name, "corpus": args.corpus, "flags": record.get("flags", flags),
        "command": record.get("command", "python benchmarks/bench_text.py "
                              + shlex.join(sys.argv[1:])),
        "git_sha": git_sha(),
        "machine": machine(),
        "threads": args.threads, "finished": finished,
        "metrics": json.loads((out / "metrics.json").read_text()) if finished else None,
        "history": history,
    })
    record["parts"].append({"wall_s": time.time() - start, "epochs_after": len(history)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    best = min((row["val_loss"] for row in history), default=float("nan"))
    print(f"{args.name}: {len(history)} epochs, best validation loss {best:.4f} nats/char, "
          f"{'finished' if finished else 'stopped (run again to resume)'}; {path}")


if __name__ == "__main__":
    main()
