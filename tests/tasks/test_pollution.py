"""PM2.5: the Keras tutorial's preparation on a hand-made frame, its protocol on the real
file with persistence and the linear baseline checked against NumPy, and the offline
error without --data."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.tasks.pollution import KERAS_TRAIN_HOURS, keras_frame, keras_protocol

SHARED = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beijing_pm25"
          / "pollution.csv")


def test_keras_frame_drops_a_day_fills_zero_label_encodes_and_scales_on_all_rows():
    hours = 30
    frame = pd.DataFrame({"pollution": [np.nan] * 25 + [10.0, 30.0, np.nan, 50.0, 20.0],
                          "wnd_dir": ["NW"] * 26 + ["cv", "SE", "NE", "NW"],
                          "temp": np.arange(hours, dtype=float)})
    scaled, low, high = keras_frame(frame)
    assert len(scaled) == 6
    assert low["pollution"] == 0 and high["pollution"] == 50  # the missing values count as 0
    assert scaled["pollution"].tolist() == [0, 0.2, 0.6, 0, 1, 0.4]
    # sorted labels NE, NW, SE, cv -> 0, 1, 2, 3, then scaled by the maximum 3
    assert scaled["wnd_dir"].tolist() == [1 / 3, 1 / 3, 1, 2 / 3, 0, 1 / 3]
    assert scaled["temp"].tolist() == [0, 0.2, 0.4, 0.6, 0.8, 1]


def test_keras_protocol_scores_every_model_on_the_tutorials_test_rows():
    frame = pd.read_csv(SHARED).rename(columns={"pm2.5": "pollution", "cbwd": "wnd_dir"})
    frame = frame[["pollution", "DEWP", "TEMP", "PRES", "wnd_dir", "Iws", "Is", "Ir"]]
    scores = keras_protocol(frame, epochs=1, hidden_size=4, threads=1)
    assert list(scores) == ["lstm", "persistence", "linear"]
    pollution = frame["pollution"].iloc[24:].fillna(0).to_numpy()
    truth, last = pollution[KERAS_TRAIN_HOURS + 1:], pollution[KERAS_TRAIN_HOURS:-1]
    assert scores["lstm"]["n_scored"] == len(truth) == 35039  # the tutorial's test_X rows
    assert scores["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean((last - truth) ** 2)))
    # linear: least squares on the eight scaled columns of the hour before, by NumPy
    scaled, low, high = keras_frame(frame)
    values = scaled.to_numpy()
    design = np.column_stack([values[:-1], np.ones(len(values) - 1)])
    train = slice(0, KERAS_TRAIN_HOURS)
    coef = np.linalg.lstsq(design[train], values[1:KERAS_TRAIN_HOURS + 1, 0], rcond=None)[0]
    linear = design[KERAS_TRAIN_HOURS:] @ coef * (high.iloc[0] - low.iloc[0]) + low.iloc[0]
    assert scores["linear"]["rmse"] == pytest.approx(np.sqrt(np.mean((linear - truth) ** 2)))


def test_offline_without_data_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSTMKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    assert main(["train", "pollution", "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.strip().endswith("and pass --data PATH")
    assert "Beijing PM2.5 is not available" in err and not (tmp_path / "run").exists()
