"""The text task end to end on a slice of The Time Machine: the run directory and its
metrics, evaluate / predict / sample on the run, the CLI verbs, and a run stopped by Ctrl-C
(at an epoch's end or in the middle of one) and resumed continuing the same loss curve bit
for bit."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lstmkit.cli import build_parser, main, split_train_args
from lstmkit.tasks import text
from lstmkit.train.checkpoint import load_checkpoint
from lstmkit.train.loop import TIME_COLUMNS

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BOOK = SHARED / "timemachine" / "timemachine.txt"
PARAMS = {"hidden_size": 8, "num_layers": 2, "dropout": 0.2, "embedding_dim": 5,
          "batch_size": 4, "bptt_steps": 20, "epochs": 3, "lr": 1e-2, "schedule": "step",
          "step_size": 1, "clip_norm": 1.0, "verbose": 0}
# 3,000 characters: 2,700 train in 4 rows of 675, 34 chunks an epoch


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "book.txt"
    path.write_text(BOOK.read_text()[:3000])
    return path


def run_files(out):
    params = load_checkpoint(Path(out) / "checkpoint.npz")[0]
    with open(Path(out) / "history.csv") as stream:
        history = [{k: v for k, v in row.items() if k not in TIME_COLUMNS}
                   for row in csv.DictReader(stream)]
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    for key in ("wall_time_s", "chars_per_s"):
        metrics.pop(key)
    return params, history, metrics


@pytest.fixture(scope="module")
def uninterrupted(book, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    text.train(PARAMS, text.TextOptions(text=str(book)), out, echo=lambda *_: None)
    return out


def test_a_run_writes_its_metrics_in_nats_bits_and_perplexity(uninterrupted, book):
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    validation = metrics["validation"]
    assert validation["bits_per_char"] == pytest.approx(validation["loss_nats"] / math.log(2))
    assert validation["perplexity"] == pytest.approx(math.exp(validation["loss_nats"]))
    with open(uninterrupted / "history.csv") as stream:
        history = list(csv.DictReader(stream))
    assert len(history) == 3 and float(history[-1]["val_loss"]) == validation["loss_nats"]
    config = json.loads((uninterrupted / "config.json").read_text())
    assert config["task"] == "text" and config["vocabulary"][0] == "\N{REPLACEMENT CHARACTER}"
    assert (uninterrupted / "curves.png").is_file()
    assert (uninterrupted / "sample.txt").read_text().startswith(book.read_text()[0])

    again = text.evaluate_run(uninterrupted, echo=lambda *_: None)
    assert again["loss_nats"] == pytest.approx(validation["loss_nats"], rel=1e-12)
    scored = text.predict_file(uninterrupted, book, echo=lambda *_: None)
    assert scored["perplexity"] > 1


@pytest.mark.parametrize("stop_after_step", [34, 50], ids=["epoch-end", "mid-epoch"])
def test_resumed_run_continues_the_same_loss_curve(uninterrupted, book, stop_after_step,
                                                   tmp_path, ctrl_c_after):
    ctrl_c_after(stop_after_step)
    messages = []
    options = text.TextOptions(text=str(book))
    assert text.train(PARAMS, options, tmp_path, echo=messages.append) is None
    assert any("lstmkit train text --resume" in m for m in messages)
    ctrl_c_after(None)
    text.train(PARAMS, options, tmp_path, resume=True, echo=lambda *_: None)

    params, history, metrics = run_files(tmp_path)
    whole_params, whole_history, whole_metrics = run_files(uninterrupted)
    assert params.keys() == whole_params.keys()
    assert all(np.array_equal(params[k], whole_params[k]) for k in params)
    assert history == whole_history and len(history) == 3
    assert metrics == whole_metrics


def test_cli_sample_and_evaluate(uninterrupted, capsys):
    argv = ["sample", str(uninterrupted), "--prime", "The Time", "--length", "40",
            "--temperature", "0.8", "--seed", "1"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert first.startswith("The Time") and len(first) == len("The Time") + 40 + 1
    assert main(argv) == 0 and capsys.readouterr().out == first  # same seed, same text
    assert main(["sample", str(uninterrupted), "--temperature", "-1"]) == 1
    assert "temperature must be 0 (greedy) or positive, got -1.0" in capsys.readouterr().err
    assert main(["evaluate", str(uninterrupted)]) == 0
    assert "nats/char" in capsys.readouterr().out


def test_cli_train_flags_reach_the_estimator_and_the_options():
    argv = ["train", "text", "--corpus", "timemachine", "--letters-only", "--bptt-steps", "32",
            "--tokens", "onehot", "--cell", "gru", "--hidden-size", "32"]
    params, options = split_train_args("text", build_parser().parse_args(argv))
    assert options == text.TextOptions(corpus="timemachine", letters_only=True)
    assert (params["bptt_steps"], params["tokens"], params["cell"]) == (32, "onehot", "gru")
    assert params["hidden_size"] == 32 and params["num_layers"] == 2  # the default


def test_cli_refuses_bad_text_files_in_one_line(tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9".encode("latin-1"))
    assert main(["train", "text", "--text", str(tmp_path / "latin1.txt"),
                 "--out", str(tmp_path / "run")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("lstmkit train: error: ") and error.count("\n") == 1
    assert "latin1.txt is not UTF-8" in error and not (tmp_path / "run").exists()


def test_sample_needs_a_text_run(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"task": "mnist"}))
    assert main(["sample", str(tmp_path)]) == 1
    assert "is not a run of the text task" in capsys.readouterr().err
