"""The forecasting recipe end to end through `lstmkit train csv`: one shared test index for
the LSTM and the baselines (persistence checked by hand), no leak from the test period
into anything fitted, evaluate and predict on the run, and messy CSVs handled clearly."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import build_parser, config_fields, main
from lstmkit.train.checkpoint import load_checkpoint
from lstmkit.train.loop import TIME_COLUMNS

ROWS = 200
FLAGS = ["--target", "level", "--lookback", "5", "--season", "7", "--epochs", "2",
         "--hidden-size", "4", "--batch-size", "32", "--threads", "1"]


def series_frame(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=rows, freq="D")
                         .strftime("%Y-%m-%d"),
                         "level": 20 + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, rows),
                         "rain": rng.gamma(1.0, 2.0, rows),
                         "sky": rng.choice(["sun", "rain", "fog"], rows)})


def write(path, frame):
    frame.to_csv(path, index=False)
    return str(path)


def train(tmp_path, name, frame, *flags):
    run = tmp_path / name
    assert main(["train", "csv", write(tmp_path / f"{name}.csv", frame), *FLAGS, *flags,
                 "--out", str(run)]) == 0
    return run, json.loads((run / "metrics.json").read_text())


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A two-fold run, with what it printed."""
    folder = tmp_path_factory.mktemp("base")
    frame, run = series_frame(), folder / "run"
    argv = ["train", "csv", write(folder / "run.csv", frame), *FLAGS, "--folds", "2", "--out",
            str(run)]
    assert main(argv) == 0
    return frame, run, json.loads((run / "metrics.json").read_text())


def test_every_model_is_scored_on_the_same_test_rows(base_run):
    frame, run, metrics = base_run
    test = metrics["test"]
    assert list(test) == ["lstm", "persistence", "seasonal_persistence", "linear"]
    for name, m in test.items():
        assert {"rmse", "mae", "mape", "directional_accuracy"} <= set(m)
        assert m["n_scored"] == 40 and m["n_missing"] == 0  # the last 20% of 200 rows
        assert ("coverage" in m) == (name == "lstm")
    assert metrics["test_windows"] == 40 and metrics["folds"] == 2
    assert metrics["test_period"] == ["2020-06-09 00:00:00", "2020-07-18 00:00:00"]
    level = frame["level"].to_numpy()
    truth, last, season_ago = level[160:], level[159:-1], level[153:-7]
    assert test["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean((last - truth) ** 2)))
    assert test["seasonal_persistence"]["mae"] == pytest.approx(np.mean(np.abs(season_ago
                                                                               - truth)))
    assert test["persistence"]["directional_accuracy"] == 0
    assert "(0 by construction)" in (run / "metrics.md").read_text()
    for name in ("metrics.md", "forecast.png", "curves.png", "history.csv", "checkpoint.npz"):
        assert (run / name).is_file(), name


def test_nothing_fitted_on_the_training_period_sees_the_test_period(tmp_path):
    frame = series_frame()
    changed = frame.copy()
    changed.loc[160:, "level"] *= 10  # the test period (the last 20%) only
    changed.loc[160:, "rain"] = -5.0
    changed.loc[160:, "sky"] = "hail"  # even a category never seen before
    run_a, metrics_a = train(tmp_path, "a", frame)
    run_b, metrics_b = train(tmp_path, "b", changed)
    config_a = json.loads((run_a / "config.json").read_text())
    config_b = json.loads((run_b / "config.json").read_text())
    assert config_a["fitted"] == config_b["fitted"]  # scalers, fill, categories, linear, interval
    arrays_a, meta_a = load_checkpoint(run_a / "checkpoint.npz")
    arrays_b, meta_b = load_checkpoint(run_b / "checkpoint.npz")
    assert arrays_a.keys() == arrays_b.keys()
    assert all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a)
    losses_a, losses_b = ([{k: v for k, v in row.items() if k not in TIME_COLUMNS}
                           for row in meta["history"]] for meta in (meta_a, meta_b))
    assert losses_a == losses_b  # the same losses, validation included
    assert metrics_a["test"]["lstm"]["rmse"] != metrics_b["test"]["lstm"]["rmse"]


def test_evaluate_and_predict_a_run(base_run, tmp_path, capsys):
    frame, run, metrics = base_run
    assert main(["evaluate", str(run)]) == 0
    assert "| lstm |" in capsys.readouterr().out
    from lstmkit.tasks import csv_file

    scores = csv_file.evaluate_run(run, echo=lambda *_: None)
    assert scores["lstm"]["n_scored"] == 40  # both folds' windows
    assert scores.keys() == metrics["test"].keys()  # every fold's model again: the run's
    for model, values in scores.items():
        assert values == pytest.approx(metrics["test"][model], rel=1e-6), model
    assert (run / "fold-1.npz").is_file() and not (run / "fold-2.npz").exists()
    older = tmp_path / "older"  # a run of the layout that kept the last fold's model only
    shutil.copytree(run, older)
    config = json.loads((older / "config.json").read_text())
    (older / "config.json").write_text(json.dumps({**config, "fitted": config["fitted"][-1]}))
    assert main(["evaluate", str(older)]) == 1
    assert "kept the last fold's model only: train it again" in capsys.readouterr().err
    newer = write(tmp_path / "newer.csv", frame.iloc[-30:])
    assert main(["predict", str(run), newer]) == 0
    out = capsys.readouterr().out
    assert "'level' after 2020-07-18 00:00:00" in out and "+1:" in out
    result = csv_file.predict_file(run, newer, echo=lambda *_: None)
    assert result["lstm"].shape == (1,) and np.all(result["lower"] <= result["upper"])


@pytest.mark.parametrize("stop_after_step", [3, 14], ids=["in-an-earlier-fold", "in-the-last"])
def test_a_run_stopped_by_ctrl_c_resumes_to_the_same_result(base_run, stop_after_step,
                                                            tmp_path, ctrl_c_after, capsys):
    """Ctrl-C in fold 1 (its model is not checkpointed: the resumed run fits it again) or in
    the last fold (resumed from its checkpoint): the same metrics.json (times aside) and
    models as the run that was never stopped."""
    frame, whole, metrics = base_run
    ctrl_c_after(stop_after_step)
    run = tmp_path / "run"
    assert main(["train", "csv", write(tmp_path / "run.csv", frame), *FLAGS, "--folds", "2",
                 "--out", str(run)]) == 0
    assert f"--resume {run}" in capsys.readouterr().out
    assert not (run / "metrics.json").exists()
    assert (run / "checkpoint.npz").exists() == (stop_after_step > 10)  # 10 steps a fold
    ctrl_c_after(None)
    assert main(["train", "csv", "--resume", str(run)]) == 0

    def timeless(metrics):
        return {k: v for k, v in metrics.items() if k not in ("wall_time_s", "samples_per_s")}

    assert timeless(json.loads((run / "metrics.json").read_text())) == timeless(metrics)
    for name in ("fold-1.npz", "checkpoint.npz"):
        arrays, _ = load_checkpoint(run / name)
        expected, _ = load_checkpoint(whole / name)
        assert all(np.array_equal(arrays[k], expected[k]) for k in expected), name


def test_a_messy_csv_unsorted_with_gaps_and_missing_values(tmp_path, capsys):
    frame = series_frame().drop(index=range(100, 110))  # a ten-day gap
    frame.loc[[20, 170, 171], "level"] = np.nan  # missing targets, two in the test period
    frame.loc[30, "rain"] = np.nan
    shuffled = frame.sample(frac=1, random_state=0)
    run, metrics = train(tmp_path, "run", shuffled)
    out = capsys.readouterr().out
    assert "not in time order; sorted by date" in out and "1 gap(s) longer than 4 x" in out
    assert metrics["test"]["lstm"]["n_missing"] == 2
    assert metrics["test"]["persistence"]["n_scored"] == 38 - 2


def test_task_options_are_flags_with_their_own_comments():
    fields = {name: (default, text) for name, _, default, text in config_fields("pollution")}
    assert fields["lookback"] == (24, "rows of history each forecast reads")  # the base's
    assert fields["folds"][0] == 4 and fields["folds"][1].endswith("all hours before it")
    assert fields["hidden_size"][0] == 32 and fields["loss"][0] == "mse"


def test_bad_csv_commands_get_one_clear_line(tmp_path, capsys):
    path = write(tmp_path / "s.csv", series_frame())
    assert main(["train", "csv", path, "--target", "sky", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "target column 'sky' is not numeric" in err and err.count("\n") == 1
    assert main(["train", "csv", path, "--out", str(tmp_path / "r")]) == 1
    assert "name the column to forecast with --target; " in capsys.readouterr().err
    assert main(["train", "csv", "--target", "level"]) == 1
    assert "lstmkit train csv needs FILE" in capsys.readouterr().err
    args = build_parser().parse_args(["train", "csv", path, "--target", "level"])
    assert args.file == path and args.target == "level"
