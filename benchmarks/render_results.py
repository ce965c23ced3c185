"""Write docs/results.md from the JSON results in benchmarks/results/ and the notes in
benchmarks/notes/ (never by hand)."""

import argparse
import json
import math
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(results):
    """The "Commands:" block under a table: each result's command, indented."""
    return ["", "Commands:", ""] + [f"    {r['command']}" for r in results] + [""]


def split_timing(results):
    """(the runs, the timing-* runs measured for wall time alone)."""
    timing = [r for r in results if r.get("name", "").startswith("timing-")]
    return [r for r in results if r not in timing], timing


def timing_table(intro, columns, rows, results):
    """The "Wall time per epoch" table of a section's timing-* runs."""
    return (["### Wall time per epoch", "", *intro, "", "| " + " | ".join(columns) + " |",
             "|---" * len(columns) + "|", *rows] + commands(results))


def mnist_section(results):
    runs, timing = split_timing(results)
    lines = ["## MNIST read row by row (full data: 60,000 training images, 10,000 test)", "",
             "Each row: mean and standard deviation over the seeds of the test accuracy on all",
             "10,000 test images (scored once, after training), and of the last epoch's",
             "validation accuracy on the 6,000 images (10%) carved from the training set, on",
             "which the settings were chosen. Epoch time is the training part of an epoch",
             "(validation aside) with the threads and jobs shown; other work shared the",
             "2 cores during these runs, so see the timing table below for wall time per epoch.",
             "",
             "| run | flags | seeds | test accuracy | validation accuracy | epochs | s / epoch "
             "| threads x jobs | git |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        accuracies = ", ".join(f"{s['metrics']['test']['accuracy']:.4f}" for s in r["seeds"])
        validation = [s["metrics"]["validation"]["accuracy"] for s in r["seeds"]]
        epochs = sorted({s["metrics"]["epochs"] for s in r["seeds"]})
        lines.append(
            f"| {r['name']} | `{' '.join(r['flags'])}` | {len(r['seeds'])} "
            f"| **{100 * r['test_accuracy_mean']:.2f}% ± {100 * r['test_accuracy_std']:.2f}** "
            f"({accuracies}) | {100 * statistics.mean(validation):.2f}% "
            f"| {'/'.join(map(str, epochs))} | {r['epoch_time_s_mean']:.1f} "
            f"| {r['threads']} x {r['jobs']} | {r['git_sha'][:10]} |")
    lines += commands(runs)
    rows = []
    for r in timing:
        seconds = [t for s in r["seeds"] for t in s["epoch_time_s"]]
        cell = r["flags"][r["flags"].index("--cell") + 1]
        rows.append(f"| {r['name']} | {cell} | {r['threads']} "
                    f"| **{statistics.mean(seconds):.1f}** "
                    f"({', '.join(f'{t:.1f}' for t in seconds)}) "
                    f"| {54000 / statistics.mean(seconds):.0f} | {r['git_sha'][:10]} |")
    if timing:
        intro = ["Short runs on a quiet machine, one at a time, only for timing: the",
                 "training part of each epoch over 54,000 images (batch 128), and the",
                 "training throughput."]
        lines += timing_table(intro,
                              ["run", "cell", "threads", "s / epoch (each epoch)", "images / s",
                               "git"], rows, timing)
    return lines


def forecast_section(results):
    lines = ["## Forecasting: the LSTM beside the baselines on the same test windows", "",
             "Each cell: mean ± standard deviation over the seeds of a test metric in real units",
             "(tasks.metrics); every model of a run is scored on one shared set of test windows.",
             "Persistence forecasts no change, so its directional accuracy is 0 by construction",
             "(ties aside). MAPE leaves out the zero targets. Coverage: the share of test values",
             "inside the LSTM's 90% interval (validation residual quantiles). The baselines",
             "have no seed: their standard deviation is 0. The `keras` run is the Keras",
             "tutorial's PM2.5 protocol (missing values 0 and scored, label-encoded wind,",
             "min-max on all rows, one hour of lag, the first 365 days train, 50 units, MAE,",
             "50 epochs, batch 72); its published test RMSE is 26.496.", "",
             "| run | task and flags | model | RMSE | MAE | MAPE % | directional accuracy "
             "| coverage | test windows | seeds | git |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        flags = " ".join([r["task"], *r["flags"]])
        windows = r["seeds"][0]["metrics"]["test_windows"]
        for model, m in r["summary"].items():
            cells = [f"{m[k][0]:.4g} ± {m[k][1] if m[k][1] > 1e-9 * abs(m[k][0]) else 0:.2g}"
                     if k in m else "-"
                     for k in ("rmse", "mae", "mape", "directional_accuracy", "coverage")]
            if model == "lstm":
                cells[0] = f"**{cells[0]}**"
            lines.append(f"| {r['name']} | `{flags}` | {model} | {' | '.join(cells)} "
                         f"| {windows} | {len(r['seeds'])} | {r['git_sha'][:10]} |")
        if r["task"] == "keras":
            lines.append(f"| {r['name']} | published | Keras tutorial LSTM | 26.496 | - | - | - "
                         "| - | 35039 | - | - |")
    lines += commands(results)
    return lines


def text_section(results):
    runs, timing = split_timing([r for r in results if "history" in r])
    d2l = [r for r in results if "engines" in r]
    lines = ["## Character-level language models (lstmkit train text)", "",
             "Validation loss: the mean negative log-likelihood per character of the last 10%",
             "of the text (split by position), read as contiguous streams with the state",
             "carried across chunks; bits per character = nats / ln 2, perplexity = exp(nats).",
             "s / epoch is the training part of an epoch on this machine with the threads",
             "shown (other jobs shared its 2 cores, so times vary). A run done in parts",
             "(--resume) has one curve; an unfinished run shows the epochs done so far.", "",
             "| run | corpus | flags | epochs | best validation nats/char (epoch) | bits/char "
             "| perplexity | s / epoch | threads | finished | git |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        history = r["history"]
        best = min(history, key=lambda row: row["val_loss"])
        seconds = sum(row["epoch_time_s"] for row in history) / len(history)
        lines.append(
            f"| {r['name']} | {r['corpus']} | `{' '.join(r['flags'])}` | {len(history)} "
            f"| **{best['val_loss']:.4f}** ({int(best['epoch'])}) "
            f"| {best['val_loss'] / math.log(2):.4f} | {math.exp(best['val_loss']):.3f} "
            f"| {seconds:.0f} | {r['threads']} | {'yes' if r['finished'] else 'no'} "
            f"| {r['git_sha'][:10]} |")
    lines += ["", "Validation loss per epoch (nats/char):", ""]
    lines += [f"- {r['name']}: " + ", ".join(f"{row['val_loss']:.3f}" for row in r["history"])
              for r in runs]
    lines += commands(runs)
    if timing:
        rows = [f"| {r['name']} | `{' '.join(r['flags'])}` | {r['threads']} "
                f"| **{r['history'][0]['epoch_time_s']:.0f}** "
                f"| {r['history'][0]['samples_per_s']:.0f} | {r['git_sha'][:10]} |"
                for r in timing]
        intro = ["One-epoch runs on a quiet machine, one at a time, only for timing: the",
                 "training part of the epoch (validation aside) and the training throughput."]
        lines += timing_table(intro,
                              ["run", "flags", "threads", "s / epoch", "characters / s", "git"],
                              rows, timing)
    for r in d2l:
        lines += ["### The Time Machine with Dive into Deep Learning 1.0's LSTM setup", "",
                  "d2l's own data pipeline on both engines: lower-case letters and space",
                  f"({r['vocabulary']} symbols with the unknown one), the first 10,000 windows "
                  "of 32 + 1",
                  "characters train and the next 5,000 validate, batches of 1,024, one-hot input,",
                  f"32 hidden units, SGD at 4, gradient norm clipped to 1, {r['epochs']} epochs; "
                  "PyTorch",
                  "runs d2l's concise model (nn.LSTM + nn.Linear). Perplexity: exp of the mean",
                  "loss over all validation characters. The timemachine-d2l run above is the",
                  "same model and hyperparameters through `lstmkit train text` (contiguous",
                  "streams of the whole book, batch 32).", "",
                  "| engine | validation perplexity | best (epoch) | wall time s | threads |",
                  "|---|---|---|---|---|"]
        for name, engine in r["engines"].items():
            curve = engine["val_perplexity"]
            best = min(range(len(curve)), key=curve.__getitem__)
            lines.append(f"| {name} | **{curve[-1]:.3f}** | {curve[best]:.3f} ({best + 1}) "
                         f"| {engine['wall_s']:.0f} | {r['threads']} |")
        lines += ["", "Command:", "", f"    {r['command']}", ""]
    return lines


SECTIONS = (("mnist", mnist_section), ("forecast", forecast_section), ("text", text_section))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="folder of the JSON results (default: benchmarks/results)")
    parser.add_argument("--to", default=str(ROOT / "docs" / "results.md"), metavar="MD",
                        help="where to write (default: docs/results.md)")
    args = parser.parse_args()
    results = args.results
    lines = ["# Results", "", "Generated by `python benchmarks/render_results.py` from "
             "benchmarks/results/*.json and the notes in benchmarks/notes/*.md.", ""]
    for prefix, section in SECTIONS:
        found = [json.loads(p.read_text()) for p in sorted(results.glob(f"{prefix}-*.json"))]
        if found:
            lines += section(found)
            notes = ROOT / "benchmarks" / "notes" / f"{prefix}.md"
            if notes.is_file():
                lines += [notes.read_text().strip(), ""]
    Path(args.to).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
