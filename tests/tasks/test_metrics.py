"""Forecast metrics on numbers worked out by hand."""

import numpy as np
import pytest

from lstmkit.tasks.metrics import forecast_metrics, metrics_table


def test_metrics_by_hand():
    truth = np.array([[2.0], [0.0], [4.0], [np.nan]])
    forecast = np.array([[3.0], [1.0], [2.0], [9.0]])
    last = np.array([1.0, 1.0, 5.0, 1.0])
    lower, upper = forecast - 1.5, forecast + 1.5
    m = forecast_metrics(truth, forecast, last, lower, upper)
    # errors 1, 1, -2 on the three known targets; the NaN row is left out
    assert m["rmse"] == pytest.approx(np.sqrt(6 / 3))
    assert m["mae"] == pytest.approx(4 / 3)
    assert m["mape"] == pytest.approx(100 * (1 / 2 + 2 / 4) / 2) and m["mape_left_out"] == 1
    # directions: (+, +) right, (0 vs -) wrong, (- , -) right
    assert m["directional_accuracy"] == pytest.approx(2 / 3)
    assert m["coverage"] == pytest.approx(2 / 3)  # |error| 1, 1 inside 1.5; 2 outside
    assert m["n_scored"] == 3 and m["n_missing"] == 1


def test_persistence_scores_zero_direction_except_ties():
    truth = np.array([[2.0], [0.0], [5.0]])
    last = np.array([1.0, 1.0, 5.0])
    m = forecast_metrics(truth, np.repeat(last[:, None], 1, axis=1), last)
    assert m["directional_accuracy"] == pytest.approx(1 / 3)  # only the tie y == y_last
    assert "coverage" not in m


def test_multi_step_and_errors():
    truth = np.array([[1.0, 2.0], [3.0, np.nan]])
    m = forecast_metrics(truth, truth + 1, np.array([0.0, 0.0]))
    assert m["rmse"] == 1 and m["n_scored"] == 3 and m["n_missing"] == 1
    with pytest.raises(ValueError, match=r"truth has shape \(2, 2\) but the forecast \(2, 1\)"):
        forecast_metrics(truth, truth[:, :1], np.zeros(2))
    with pytest.raises(ValueError, match="no known true value to score"):
        forecast_metrics(np.full((2, 1), np.nan), np.zeros((2, 1)), np.zeros(2))


def test_table_marks_persistence_direction():
    m = forecast_metrics(np.array([[2.0]]), np.array([[1.0]]), np.array([1.0]))
    table = metrics_table({"persistence": m, "lstm": {**m, "coverage": 0.9}})
    assert "| persistence | 1 | 1 | 50 (0) | 0.000 (0 by construction) | - |" in table
    assert table.splitlines()[-1].endswith("| 0.900 |")
