"""The weather task on the embedded Seattle series: the same day a year before by hand."""

import json

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.data.weather import load_weather


def test_weather_task_scores_against_last_year(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "weather", "--epochs", "1", "--hidden-size", "4", "--threads", "1",
                 "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    temp_max = load_weather()[0]["temp_max"].to_numpy()
    truth, year_ago = temp_max[1096:], temp_max[1096 - 365:-365]  # 2015 against 2014
    test = metrics["test"]
    assert list(test) == ["lstm", "persistence", "seasonal_persistence", "linear"]
    assert test["seasonal_persistence"]["rmse"] == pytest.approx(
        np.sqrt(np.mean((year_ago - truth) ** 2)))
    assert metrics["test_period"] == ["2015-01-01 00:00:00", "2015-12-31 00:00:00"]
    config = json.loads((run / "config.json").read_text())
    (fitted,) = config["fitted"]  # one fold
    assert fitted["categories_"] == {"weather": ["drizzle", "fog", "rain", "snow", "sun"]}
