"""The run directory: history.csv, the JSON files, and a clear error for a missing run."""

import csv
import math
import re

import pytest

from lstmkit import __version__
from lstmkit.train.rundir import RunDir, default_run_dir

HISTORY = [
    {"epoch": 1, "lr": 0.001, "train_loss": 2.302585092994046, "train_accuracy": 0.1,
     "val_loss": 1.9999999999999998, "val_accuracy": 0.25, "epoch_time_s": 0.5,
     "samples_per_s": 1234.5678},
    {"epoch": 2, "lr": 0.0005, "train_loss": 1.0 / 3.0, "train_accuracy": 0.6,
     "val_loss": 1e-300, "val_accuracy": 0.7, "epoch_time_s": 0.25,
     "samples_per_s": 2469.1356},
]


def test_history_csv_round_trips_columns_and_rows(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.write_history(HISTORY)
    with open(run.path / "history.csv", newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        assert reader.fieldnames == list(HISTORY[0])
    assert len(rows) == len(HISTORY)
    for row, expected in zip(rows, HISTORY, strict=True):
        assert int(row["epoch"]) == expected["epoch"]
        for key, value in expected.items():
            if key != "epoch":
                assert float(row[key]) == value  # every float digit kept


def test_history_csv_columns_are_the_union_in_first_seen_order(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.4, "val_loss": 0.3}]
    run = RunDir(tmp_path).create()
    run.write_history(rows)
    with open(run.path / "history.csv", newline="") as file:
        reader = csv.DictReader(file)
        read = list(reader)
    assert reader.fieldnames == ["epoch", "train_loss", "val_loss"]
    assert read[0]["val_loss"] == "" and read[1]["val_loss"] == "0.3"


def test_history_csv_of_no_epochs_is_empty(tmp_path):
    run = RunDir(tmp_path).create()
    run.write_history([])
    with open(run.path / "history.csv", newline="") as file:
        assert list(csv.DictReader(file)) == []


def test_write_json_read_json_round_trip(tmp_path):
    data = {"test": {"accuracy": 0.984375, "loss": 0.05123456789012345},
            "wall_time_s": 12.5, "epochs": [1, 2, 3], "note": "ünïcode", "none": None,
            "nan": math.nan, "inf": math.inf}
    run = RunDir(tmp_path / "a" / "b").create()
    run.write_json("metrics.json", data)
    back = run.read_json("metrics.json")
    assert math.isnan(back.pop("nan"))
    assert back == {key: value for key, value in data.items() if key != "nan"}
    text = (run.path / "metrics.json").read_text()
    assert text.endswith("}\n") and '\n  "test": {' in text  # indented, for people to read


def test_writes_leave_no_temporary_files(tmp_path):
    run = RunDir(tmp_path).create()
    run.write_json("metrics.json", {"a": 1})
    run.write_json("metrics.json", {"a": 2})  # replaces
    run.write_history(HISTORY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "metrics.json"]
    assert run.read_json("metrics.json") == {"a": 2}


def test_write_config_adds_the_lstmkit_version(tmp_path):
    run = RunDir(tmp_path).create()
    run.write_config({"hidden_size": 8, "cell": "lstm"})
    assert run.read_json("config.json") == {"hidden_size": 8, "cell": "lstm",
                                             "lstmkit_version": __version__}


def test_read_json_from_a_missing_run_dir_says_so(tmp_path):
    missing = tmp_path / "no-such-run"
    with pytest.raises(FileNotFoundError,
                       match=r"metrics\.json does not exist: is .*no-such-run a run directory"):
        RunDir(missing).read_json("metrics.json")
    assert not missing.exists()  # reading creates nothing


def test_read_json_of_a_missing_file_in_a_run_dir(tmp_path):
    run = RunDir(tmp_path).create()
    with pytest.raises(FileNotFoundError, match="config.json does not exist"):
        run.read_json("config.json")


def test_checkpoint_path_and_create(tmp_path):
    run = RunDir(tmp_path / "x" / "y")
    assert run.checkpoint == tmp_path / "x" / "y" / "checkpoint.npz"
    assert run.create() is run and run.path.is_dir()
    run.create()  # an existing directory is fine


def test_default_run_dir_names_the_task_and_time():
    path = default_run_dir("mnist")
    assert path.parent.name == "runs"
    assert re.fullmatch(r"mnist-\d{8}-\d{6}", path.name)
