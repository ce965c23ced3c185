"""Forecaster: shapes in real units, scoring against hand-built truth, baselines on the
same windows, a scikit-learn estimator, and clear errors for bad series."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from lstmkit import Forecaster
from lstmkit.baselines import LinearAutoregression

ROWS, PERIOD, CUT = 360, 12, 280
TINY = dict(hidden_size=8, epochs=12, lr=1e-2, batch_size=32, verbose=0)


def make_frame(rows=ROWS, seed=0):
    """A noisy seasonal level (real units around 50) with an exogenous and a label column."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    level = 50 + 10 * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0, 0.5, rows)
    return pd.DataFrame({"level": level, "hour": np.cos(2 * np.pi * t / PERIOD),
                         "phase": np.where(np.sin(2 * np.pi * t / PERIOD) > 0, "up", "down")},
                        index=pd.date_range("2020-01-01", periods=rows, freq="h"))


@pytest.fixture(scope="module")
def fitted():
    frame = make_frame()
    forecaster = Forecaster(lookback=6, horizon=2, target="level", season=PERIOD, **TINY)
    return forecaster.fit(frame.iloc[:CUT]), frame


def truth_by_hand(frame, lookback, horizon):
    level = frame["level"].to_numpy()
    origins = np.arange(lookback - 1, len(frame))
    truth = np.full((len(origins), horizon), np.nan)
    for n, t in enumerate(origins):
        for k in range(horizon):
            if t + k + 1 < len(frame):
                truth[n, k] = level[t + k + 1]
    return origins, truth


def test_predict_is_one_row_per_window_in_real_units(fitted):
    forecaster, frame = fitted
    forecast = forecaster.predict(frame)
    assert forecast.shape == (ROWS - 6 + 1, 2)
    assert 35 < forecast.mean() < 65  # real units, not scaled ones
    lower, upper = forecaster.predict_interval(frame)
    assert np.all(lower <= forecast) and np.all(forecast <= upper)
    assert forecaster.input_columns_ == ["level", "hour", "phase=down", "phase=up"]


def test_lstm_beats_persistence_and_score_is_minus_rmse_by_hand(fitted):
    forecaster, frame = fitted
    origins, truth = truth_by_hand(frame, 6, 2)
    assert np.array_equal(forecaster.windows(frame).origin, origins)
    assert np.array_equal(forecaster.windows(frame).y, truth, equal_nan=True)
    test = origins >= CUT - 1  # first target row in the unseen part
    forecast = forecaster.predict(frame)
    errors = (forecast - truth)[test]
    rmse = np.sqrt(np.nanmean(errors ** 2))
    assert forecaster.score(frame.iloc[CUT - 6:]) == pytest.approx(-rmse)
    level = frame["level"].to_numpy()
    persistence = np.repeat(level[origins][:, None], 2, axis=1)
    assert np.array_equal(forecaster.baselines(frame)["persistence"], persistence)
    assert rmse < 0.5 * np.sqrt(np.nanmean((persistence - truth)[test] ** 2))


def test_baselines_share_the_windows_of_predict(fitted):
    forecaster, frame = fitted
    baselines = forecaster.baselines(frame)
    assert list(baselines) == ["persistence", "seasonal_persistence", "linear"]
    assert all(b.shape == forecaster.predict(frame).shape for b in baselines.values())
    level, origins = frame["level"].to_numpy(), forecaster.windows(frame).origin
    seasonal = baselines["seasonal_persistence"]
    assert seasonal[-1, 0] == level[origins[-1] + 1 - PERIOD]
    assert seasonal[-1, 1] == level[origins[-1] + 2 - PERIOD]
    # the linear baseline is least squares on the LSTM's own training windows
    windows = forecaster.windows(frame.iloc[:CUT])
    cut = CUT - round(0.1 * CUT)
    train = windows.origin + 2 < cut
    reference = LinearAutoregression().fit(windows.X[train], windows.y[train])
    assert np.allclose(forecaster.linear_.coef_, reference.coef_)


def test_interval_is_the_validation_residual_quantiles(fitted):
    forecaster, frame = fitted
    windows = forecaster.windows(frame.iloc[:CUT])
    cut = CUT - round(0.1 * CUT)
    held_out = (windows.origin + 1 >= cut) & (windows.origin + 2 < CUT)
    residuals = windows.y[held_out] - forecaster.predict(frame.iloc[:CUT])[held_out]
    assert np.allclose(forecaster.interval_, np.quantile(residuals, [0.05, 0.95], axis=0))


def test_an_array_a_missing_target_and_the_mae_loss():
    values = make_frame(120)[["level", "hour"]].to_numpy().copy()
    values[40:45, 0] = np.nan
    forecaster = Forecaster(4, 1, 0, difference=False, loss="mae", **{**TINY, "epochs": 1})
    forecast = forecaster.fit(values).predict(values)
    assert forecast.shape == (117, 1) and np.isfinite(forecast).all()
    assert forecaster.model_.config.loss == "mae"


def test_scikit_learn_protocol(fitted):
    forecaster, _ = fitted
    params = forecaster.get_params()
    assert params["lookback"] == 6 and params["target"] == "level" and params["interval"] == 0.9
    copy = clone(forecaster)
    assert not hasattr(copy, "model_") and copy.get_params() == params
    with pytest.raises(NotFittedError):
        copy.predict(make_frame())


def test_bad_series_and_settings_are_refused(fitted):
    forecaster, frame = fitted
    with pytest.raises(ValueError, match="target column 'phase' is not numeric"):
        Forecaster(4, 1, "phase", **TINY).fit(frame)
    with pytest.raises(ValueError, match="no column 'price' in the series"):
        Forecaster(4, 1, "price", **TINY).fit(frame)
    with pytest.raises(ValueError, match=r"interval must lie in \(0, 1\), got 1.5"):
        Forecaster(4, 1, "level", interval=1.5, **TINY).fit(frame)
    with pytest.raises(ValueError, match="a Forecaster's loss is mse or mae, got 'cross_entropy'"):
        Forecaster(4, 1, "level", loss="cross_entropy", **TINY).fit(frame)
    with pytest.raises(ValueError, match="no window has its targets in the last 10% of the 12 "
                                         "rows"):
        Forecaster(12, 1, "level", **TINY).fit(frame.iloc[:12])
    with pytest.raises(ValueError, match="no training window: 12 rows give none with "
                                         "lookback=11, horizon=1"):
        Forecaster(11, 1, "level", **TINY).fit(frame.iloc[:12])
    with pytest.raises(ValueError, match="the series has input columns .* but the forecaster "
                                         "was fitted on"):
        forecaster.predict(frame.drop(columns="hour"))
