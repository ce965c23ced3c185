"""The forecasting recipe the stock, pollution, weather and csv tasks share.

A task module names its OPTIONS (a ForecastOptions with its own fields and defaults) and a
load(options, echo) -> Series; this module does the rest. The test period (the last
test_fraction of the rows) is cut into walk-forward folds; each fold's Forecaster is fitted
on every row before the fold (scalers, categories, LSTM, linear baseline: data.series
states the rules) and forecasts the windows whose first target row lies in the fold. The
LSTM and the baselines are scored on those very windows, one shared index, in real units
(tasks.metrics). The run directory holds every fold's model (fold-1.npz, ... for the
earlier folds; the last fold's is the training checkpoint, checkpoint.npz, which --resume
continues) and fitted scalers (config.json "fitted", one per fold), metrics.json with one
entry per model under "test", metrics.md, curves.png and forecast.png; `evaluate` scores
every fold's model again and reproduces metrics.json's "test".
"""

import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from lstmkit.baselines import LinearAutoregression
from lstmkit.data.series import Scaler, targets_within, walk_forward
from lstmkit.estimators import Forecaster
from lstmkit.tasks.metrics import forecast_metrics, metrics_table
from lstmkit.tasks.plots import plot_curves, plot_forecast
from lstmkit.train.rundir import RunDir
from lstmkit.train.serialize import load, save

NOTES = {
    "missing": "inputs carried forward (training mean before the first observation); "
               "windows with a missing target are not trained on, and missing targets are "
               "left out of every metric (n_missing)",
    "mape": "over the non-zero targets; mape_left_out counts the zeros",
    "directional_accuracy": "mean(sign(forecast - last) == sign(truth - last)); persistence "
                            "predicts no change and scores 0 by construction",
    "coverage": "the LSTM's interval: the validation residuals' quantiles, per step ahead",
}


@dataclass(frozen=True)
class ForecastOptions:
    """What every forecasting task asks: window, interval, test period."""

    lookback: int = 24  # rows of history each forecast reads
    horizon: int = 1  # rows ahead to forecast (1: the next row)
    season: int | None = None  # rows per season, for the seasonal persistence baseline
    interval: float = 0.9  # nominal coverage of the prediction interval
    test_fraction: float = 0.2  # the last share of the rows is the test period
    folds: int = 1  # walk-forward folds over the test period, each trained on all rows before it


class Series(NamedTuple):
    """A task's data: rows in time order, the column to forecast, the inputs."""

    frame: pd.DataFrame  # indexed by time
    target: str
    source: str  # where the data came from
    features: list | None = None  # input columns (None: all)


def make_forecaster(params, options: ForecastOptions, series: Series):
    """The Forecaster of the hyperparameters params, the options and the series' columns."""
    return Forecaster(lookback=options.lookback, horizon=options.horizon, target=series.target,
                      features=series.features, season=options.season,
                      interval=options.interval, **params)


def fold_forecasts(forecaster, series: Series, start, stop):
    """{"origin", "truth", "last", "lstm", "lower", "upper", baselines...}: arrays over the
    windows whose first target row lies in [start, stop), all models on the same windows."""
    frame = series.frame
    data = forecaster.windows(frame)
    chosen = targets_within(data.origin, 1, start, stop)
    lstm = forecaster.predict(frame)
    lower, upper = lstm + forecaster.interval_[:, None]  # predict_interval, predicting once
    forecasts = {"origin": data.origin, "truth": data.y, "last": data.last,
                 "lstm": lstm, "lower": lower, "upper": upper,
                 **forecaster.baselines(frame)}
    return {name: values[chosen] for name, values in forecasts.items()}


def joined(parts):
    """The folds' forecasts (fold_forecasts) one after the other."""
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def fold_model(run, k, n_folds):
    """Where fold k's model is: fold-(k+1).npz, or the checkpoint for the last fold."""
    return run.checkpoint if k == n_folds - 1 else run.path / f"fold-{k + 1}.npz"


def score(forecasts):
    """{model: metrics} on the shared windows: lstm (with coverage), then the baselines."""
    truth, last = forecasts["truth"], forecasts["last"]
    scores = {"lstm": forecast_metrics(truth, forecasts["lstm"], last, forecasts["lower"],
                                       forecasts["upper"])}
    for name in ("persistence", "seasonal_persistence", "linear"):
        if name in forecasts:
            scores[name] = forecast_metrics(truth, forecasts[name], last)
    return scores


def train(task, load_series, params, options: ForecastOptions, out, *, resume=False, echo=print):
    """Walk-forward training and scoring of one forecasting task; writes the run directory
    and returns its metrics (None when Ctrl-C stopped it)."""
    start = time.perf_counter()
    Forecaster(1, options.horizon, 0, **params).configs(1, options.horizon)  # refuse bad values
    series = load_series(options, echo)
    run = RunDir(out).create()
    frame = series.frame
    folds = walk_forward(len(frame), options.test_fraction, options.folds)
    echo(f"{task}: {len(frame)} rows from {series.source}, {frame.index[0]} .. "
         f"{frame.index[-1]}; forecasting {series.target!r} {options.horizon} row(s) ahead "
         f"from {options.lookback}; {len(folds)} walk-forward fold(s)")
    if not resume:
        run.write_config({"task": task, "estimator": params, "options": asdict(options)})
    parts, fitted = [], []
    for k, fold in enumerate(folds):
        last_fold = k == len(folds) - 1
        echo(f"fold {k + 1}/{len(folds)}: train on rows before {frame.index[fold.train_end]}, "
             f"test to {frame.index[fold.test_end - 1]}")
        forecaster = make_forecaster(params, options, series).fit(
            frame.iloc[:fold.train_end], run_dir=out if last_fold else None,
            resume=resume and last_fold and run.checkpoint.is_file())  # else stopped earlier
        if forecaster.stopped_ == "interrupted":
            echo(f"stopped; continue with: lstmkit train {task} --resume {out}")
            return None
        if not last_fold:
            save(forecaster.model_, fold_model(run, k, len(folds)))
        fitted.append(fitted_state(forecaster))
        parts.append(fold_forecasts(forecaster, series, fold.train_end, fold.test_end))
    forecasts = joined(parts)
    config = run.read_json("config.json")
    run.write_config({**config, "data_source": series.source, "fitted": fitted})
    history = forecaster.history_
    times = frame.index[forecasts["origin"] + 1]
    metrics = {"test": score(forecasts), "test_windows": len(times),
               "test_period": [str(times[0]), str(times[-1])], "folds": len(folds),
               "train": {k.removeprefix("train_"): v for k, v in history[-1].items()
                         if k.startswith("train_")},
               "validation": {k.removeprefix("val_"): v for k, v in history[-1].items()
                              if k.startswith("val_")},
               "epochs": len(history), "stopped": forecaster.stopped_,
               "wall_time_s": time.perf_counter() - start,
               "samples_per_s": float(np.mean([row["samples_per_s"] for row in history])),
               "notes": NOTES}
    run.write_json("metrics.json", metrics)
    table = metrics_table(metrics["test"])
    (run.path / "metrics.md").write_text(table + "\n")
    plots = [plot_curves(history, run.path / "curves.png"),
             plot_forecast(times, forecasts["truth"][:, 0], forecasts["lstm"][:, 0],
                           forecasts["lower"][:, 0], forecasts["upper"][:, 0],
                           ("persistence", forecasts["persistence"][:, 0]),
                           run.path / "forecast.png",
                           f"{series.target}, 1 step ahead, test period ({series.source})")]
    echo(f"test: {len(times)} windows, {times[0]} .. {times[-1]}, {metrics['wall_time_s']:.0f} s")
    echo(table)
    earlier = (f", the earlier folds' models fold-1.npz .. fold-{len(folds) - 1}.npz"
               if len(folds) > 1 else "")
    echo(f"run directory {out}: metrics.json, metrics.md, history.csv, checkpoint "
         f"{run.checkpoint.name}{earlier}, plots {', '.join(p.name for p in plots)}")
    return metrics


def fitted_state(forecaster):
    """The fitted attributes of a Forecaster but its model, JSON-ready."""
    return {"categories_": forecaster.categories_, "input_columns_": forecaster.input_columns_,
            "scaler_": [forecaster.scaler_.center.tolist(), forecaster.scaler_.scale.tolist()],
            "target_scaler_": [forecaster.target_scaler_.center.tolist(),
                               forecaster.target_scaler_.scale.tolist()],
            "fill_": forecaster.fill_.tolist(), "linear_": forecaster.linear_.coef_.tolist(),
            "interval_": forecaster.interval_.tolist()}


def load_run(out, load_series, options_class, echo=print):
    """(the fitted Forecaster of each fold of a run, its options, its Series loaded again)."""
    run = RunDir(out)
    config = run.read_json("config.json")
    if "fitted" not in config:
        raise ValueError(f"{out} has no finished model yet: resume it with lstmkit train "
                         f"{config['task']} --resume {out}")
    if isinstance(config["fitted"], dict):
        raise ValueError(f"{out} was written by an earlier lstmkit, which kept the last fold's "
                         "model only: train it again")
    options = options_class(**config["options"])
    series = load_series(options, echo)
    forecasters = []
    for k, fitted in enumerate(config["fitted"]):
        forecaster = make_forecaster(config["estimator"], options, series)
        forecaster.categories_ = fitted["categories_"]
        forecaster.input_columns_ = fitted["input_columns_"]
        forecaster.scaler_ = Scaler(*map(np.array, fitted["scaler_"]))
        forecaster.target_scaler_ = Scaler(*map(np.array, fitted["target_scaler_"]))
        forecaster.fill_ = np.array(fitted["fill_"])
        forecaster.linear_ = LinearAutoregression()
        forecaster.linear_.coef_ = np.array(fitted["linear_"])
        forecaster.interval_ = np.array(fitted["interval_"])
        forecaster.model_ = load(fold_model(run, k, len(config["fitted"])))
        forecasters.append(forecaster)
    return forecasters, options, series


def evaluate_run(out, load_series, options_class, echo=print):
    """Score every fold's model and the baselines on the run's test windows once more (the
    "test" of its metrics.json); returns {model: metrics}."""
    forecasters, options, series = load_run(out, load_series, options_class, echo)
    folds = walk_forward(len(series.frame), options.test_fraction, options.folds)
    scores = score(joined([fold_forecasts(forecaster, series, fold.train_end, fold.test_end)
                           for forecaster, fold in zip(forecasters, folds, strict=True)]))
    echo(f"the test windows of {len(folds)} walk-forward fold(s), from "
         f"{series.frame.index[folds[0].train_end]}:")
    echo(metrics_table(scores))
    return scores


def predict_file(out, load_series, options_class, echo=print):
    """The run's forecast from the last row of the series load_series reads (a file the
    user named): {"lstm", "lower", "upper"} arrays (horizon,) in real units."""
    forecasters, _, series = load_run(out, load_series, options_class, echo)
    forecaster = forecasters[-1]  # the last fold's, trained on the most rows
    forecast = forecaster.predict(series.frame)[-1]
    lower, upper = forecast + forecaster.interval_  # predict_interval's last row
    echo(f"{series.target!r} after {series.frame.index[-1]} ({series.source}):")
    for k, (value, low, high) in enumerate(zip(forecast, lower, upper, strict=True)):
        echo(f"  +{k + 1}: {value:.6g}  interval [{low:.6g}, {high:.6g}]")
    return {"lstm": forecast, "lower": lower, "upper": upper}

