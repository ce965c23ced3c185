import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from lstmkit.cli import build_parser, config_fields, main, split_train_args
from lstmkit.data.idx import read_idx

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def test_help_lists_every_command_with_an_example():
    out = subprocess.run([sys.executable, "-m", "lstmkit", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("train", "evaluate", "predict", "demo"):
        examples = out.split("commands, with an example each:")[1]
        assert f"  {command}  " in out and f"lstmkit {command} " in examples


def test_train_flags_round_trip_to_the_configs():
    chosen = {"hidden_size": 7, "num_layers": 2, "cell": "gru", "bidirectional": True,
              "dropout": 0.25, "forget_bias": None, "epochs": 3, "lr": 0.005,
              "schedule": "cosine", "clip_norm": 1.5, "patience": 2, "threads": 1,
              "data_dir": "some/where", "train_size": 100}
    argv = ["train", "mnist"]
    for name, value in chosen.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        else:
            argv += [flag, "none" if value is None else str(value)]
    params, options = split_train_args("mnist", build_parser().parse_args(argv))
    defaults = {name: default for name, _, default, _ in config_fields("mnist")}
    for name, default in defaults.items():
        got = getattr(options, name) if hasattr(options, name) else params[name]
        assert got == chosen.get(name, default), name


def test_bad_flag_values_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "mnist", "--hidden-size", "many"])
    assert "invalid int value: 'many'" in capsys.readouterr().err
def test_bad_hyperparameters_are_refused_before_writing(tmp_path, capsys):
    assert main(["train", "mnist", "--cell", "lstmm", "--out", str(tmp_path / "run")]) == 1
    assert "unknown cell 'lstmm'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_evaluate_predict_end_to_end_on_a_tiny_slice(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "mnist", "--data-dir", str(MNIST), "--train-size", "400", "--test-size",
            "100", "--epochs", "2", "--hidden-size", "12", "--batch-size", "50", "--out",
            str(run)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and str(run) in out
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.npz", "curves.png",
                 "confusion.png", "misclassified.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"accuracy", "loss"} and metrics["wall_time_s"] > 0
    assert len((run / "history.csv").read_text().splitlines()) == 3
    config = json.loads((run / "config.json").read_text())
    assert config["estimator"]["hidden_size"] == 12 and config["lstmkit_version"]

    assert main(["evaluate", str(run)]) == 0
    assert f"test accuracy {metrics['test']['accuracy']:.2%}" in capsys.readouterr().out

    digit = read_idx(MNIST / "t10k-images-idx3-ubyte.gz")[0]  # a 7
    matplotlib.image.imsave(tmp_path / "dark.png", digit, cmap="gray", vmin=0, vmax=255)
    assert main(["predict", str(run), str(tmp_path / "dark.png")]) == 0
    assert "dark.png:" in capsys.readouterr().out
    matplotlib.image.imsave(tmp_path / "light.png", 255 - digit, cmap="gray", vmin=0, vmax=255)
    np.save(tmp_path / "digit.npy", digit)
    assert main(["predict", str(run), str(tmp_path / "light.png")]) == 0
    assert "light background, inverting" in capsys.readouterr().out
    assert main(["predict", str(run), str(tmp_path / "digit.npy")]) == 0
    np.save(tmp_path / "big.npy", np.zeros((32, 32)))
    assert main(["predict", str(run), str(tmp_path / "big.npy")]) == 1
    assert "big.npy is 32x32; the MNIST model reads 28x28 images" in capsys.readouterr().err

    assert main(["train", "mnist", "--resume", str(run), "--epochs", "5"]) == 1
    assert "--resume continues" in capsys.readouterr().err
    assert main(["train", "mnist", "--resume", str(run)]) == 1
    assert f"{run} has finished (its metrics.json is written)" in capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text()) == metrics  # untouched


def test_evaluate_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is it a run directory written by lstmkit train" in capsys.readouterr().err.replace(
        f"{tmp_path} ", "it ")
