"""The baselines against hand-made answers and NumPy's own least squares."""

import numpy as np
import pytest

from lstmkit.baselines import LinearAutoregression, persistence, seasonal_persistence


def test_persistence_repeats_the_last_value():
    assert persistence(np.array([3.0, 5.0]), 3).tolist() == [[3, 3, 3], [5, 5, 5]]


def test_seasonal_persistence_takes_the_same_phase_of_the_last_season():
    known = 100.0 + np.arange(20)  # row r holds 100 + r
    forecast = seasonal_persistence(known, np.array([10, 1]), horizon=5, season=3)
    # origin 10: target rows 11..15 take rows 8, 9, 10, 8, 9
    assert forecast[0].tolist() == [108, 109, 110, 108, 109]
    # origin 1: target rows 2..6 take rows -1 (before the start: NaN), 0, 1, -1, 0
    assert np.isnan(forecast[1, [0, 3]]).all() and forecast[1, [1, 2, 4]].tolist() == [100, 101,
                                                                                         100]
    with pytest.raises(ValueError, match="season must be at least 1 row, got 0"):
        seasonal_persistence(known, np.array([5]), 1, 0)


def test_linear_autoregression_is_numpy_least_squares_with_an_intercept():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 4, 3)), rng.standard_normal((50, 2))
    model = LinearAutoregression().fit(X, y)
    design = np.column_stack([X.reshape(50, 12), np.ones(50)])
    reference = np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.allclose(model.coef_, reference)
    X_new = rng.standard_normal((7, 4, 3))
    assert np.allclose(model.predict(X_new), X_new.reshape(7, 12) @ reference[:12] + reference[12])


def test_linear_autoregression_recovers_a_noiseless_ar2_process():
    series = np.zeros(60)
    series[:2] = [1.0, 2.0]
    for t in range(2, 60):
        series[t] = 0.9 * series[t - 1] - 0.2 * series[t - 2] + 0.5
    X = np.stack([series[t - 2:t] for t in range(2, 60)])[:, :, None]  # (58, 2, 1)
    model = LinearAutoregression().fit(X, series[2:, None])
    assert np.allclose(model.coef_[:, 0], [-0.2, 0.9, 0.5])
    with pytest.raises(ValueError, match="at least 2 training windows, got 1"):
        LinearAutoregression().fit(X[:1], series[2:3, None])
