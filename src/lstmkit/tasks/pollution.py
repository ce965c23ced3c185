"""Beijing PM2.5, the next hour's pollution from the last day of all eight series.

lstmkit's protocol: the UCI file as it is (data.pm25); missing pollution left out of
training and scoring, inputs carried forward; wind direction one-hot; standard scaling
fitted on the training rows; lookback 24 hours; 32 LSTM units forecasting the change from
the last hour, 10 epochs. The test period is the last 80% of the hours (from 2011-01-01
05:00, about the Keras tutorial's test period after its first 365 days), scored in 4
walk-forward folds of about a year, each trained on every hour before it (the last 10%
of those is its validation period). Baselines: persistence, the same hour of the day
before (season 24), and linear autoregression on the same 24 x 11 window.

keras_protocol() reproduces the Keras tutorial's own protocol for comparison with its
published test RMSE (KERAS_RMSE).
"""

from dataclasses import dataclass, replace

import numpy as np

from lstmkit.data.pm25 import load_pm25
from lstmkit.estimators import Forecaster
from lstmkit.tasks import forecast
from lstmkit.tasks.forecast import ForecastOptions, Series, fold_forecasts, score

ESTIMATOR = Forecaster
DEFAULTS = {"hidden_size": 32, "epochs": 10}  # else the Forecaster's
TARGET = "pollution"
KERAS_RMSE = 26.496  # the tutorial's published test RMSE (ug/m^3)
KERAS_MODEL = {"hidden_size": 50, "loss": "mae", "epochs": 50, "batch_size": 72,
               "forget_bias": 1.0, "validation_fraction": 0.0, "scale": "none",
               "difference": False}  # the tutorial's LSTM forecasts the level itself
KERAS_TRAIN_HOURS = 365 * 24


@dataclass(frozen=True)
class PollutionOptions(ForecastOptions):
    """Where the data come from; the window and the test period."""

    season: int | None = 24  # hours per season for the seasonal persistence baseline
    test_fraction: float = 0.8  # the last share of the hours is the test period
    folds: int = 4  # walk-forward folds over the test period, each trained on all hours before it
    data: str | None = None  # the UCI file PRSA_data_2010.1.1-2014.12.31.csv (else cache, download)


OPTIONS = PollutionOptions


def load(options: PollutionOptions, echo=print):
    """The hourly PM2.5 table as a Series forecasting pollution from every column."""
    frame, source = load_pm25(options.data)
    return Series(frame, TARGET, source)


def train(params, options: PollutionOptions, out, *, resume=False, echo=print):
    """Forecaster and baselines on PM2.5 (tasks.forecast)."""
    return forecast.train("pollution", load, params, options, out, resume=resume, echo=echo)


def evaluate_run(out, echo=print):
    """The run's model and the baselines on its test period, once more."""
    return forecast.evaluate_run(out, load, OPTIONS, echo)


def predict_file(out, path, echo=print):
    """The next hours' pollution from the last rows of a file of the UCI form."""
    return forecast.predict_file(out, lambda options, echo: load(replace(options, data=str(path)),
                                                                 echo), OPTIONS, echo)


def keras_frame(frame):
    """The tutorial's preparation of the raw frame: the first 24 hours dropped, missing
    values set to 0, wind direction label-encoded (sorted labels, as scikit-learn's
    LabelEncoder), every column min-max scaled with the minimum and maximum of all rows.
    Returns (scaled frame, minimum, maximum) of each column."""
    frame = frame.iloc[24:].fillna(0)
    labels = sorted(frame["wnd_dir"].unique())
    frame = frame.assign(wnd_dir=frame["wnd_dir"].map({v: i for i, v in enumerate(labels)}))
    frame = frame.astype(np.float64)
    low, high = frame.min(), frame.max()
    return (frame - low) / (high - low), low, high


def keras_protocol(frame, seed=0, threads=None, **overrides):
    """{model: metrics} of the Keras tutorial's protocol on the raw PM2.5 frame: one hour
    of lag (lookback 1), the first 365 days' windows train, every later one is tested;
    50 LSTM units forecasting the level, MAE loss, 50 epochs, batch 72, Keras' forget bias
    1 (KERAS_MODEL, overrides on top); the batches are shuffled (the tutorial does not). LSTM,
    persistence and linear are scored on the same windows in real units."""
    scaled, low, high = keras_frame(frame)
    params = {**KERAS_MODEL, "seed": seed, "threads": threads, "verbose": 0, **overrides}
    series = Series(scaled, TARGET, "Keras tutorial preparation")
    forecaster = Forecaster(lookback=1, horizon=1, target=TARGET, **params)
    forecaster.fit(scaled.iloc[:KERAS_TRAIN_HOURS + 1])
    forecasts = fold_forecasts(forecaster, series, KERAS_TRAIN_HOURS + 1, len(scaled))
    span = high[TARGET] - low[TARGET]
    real = {name: values if name == "origin" else values * span + low[TARGET]
            for name, values in forecasts.items()}
    return score(real)
