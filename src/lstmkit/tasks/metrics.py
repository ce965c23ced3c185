"""Forecast metrics in real units, over the entries whose true value is known.

    RMSE   sqrt(mean (y^ - y)^2)
    MAE    mean |y^ - y|
    MAPE   100 * mean |y^ - y| / |y|  over the entries with y != 0 (the others are counted
           in mape_left_out)
    directional accuracy  mean(sign(y^ - y_last) == sign(y - y_last)), y_last the last known
           value at the window's origin; persistence predicts no change, sign 0, and scores 0
           by construction (except where the truth does not change either)
    coverage  the share of true values inside [lower, upper]

truth, forecast, lower, upper: (N, H); last: (N,). Entries with unknown truth (NaN) are
left out of every metric and counted in n_missing.
"""

import numpy as np


def forecast_metrics(truth, forecast, last, lower=None, upper=None):
    """{"rmse", "mae", "mape", "mape_left_out", "directional_accuracy", "n_scored",
    "n_missing"} plus "coverage" when the interval bounds are given."""
    truth, forecast = np.asarray(truth, np.float64), np.asarray(forecast, np.float64)
    if truth.shape != forecast.shape:
        raise ValueError(f"truth has shape {truth.shape} but the forecast {forecast.shape}")
    last = np.broadcast_to(np.asarray(last, np.float64)[:, None], truth.shape)
    known = ~np.isnan(truth)
    if not known.any():
        raise ValueError("no known true value to score")
    y, y_hat, y_last = truth[known], forecast[known], last[known]
    error = y_hat - y
    nonzero = y != 0
    metrics = {
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(100 * np.mean(np.abs(error[nonzero]) / np.abs(y[nonzero])))
        if nonzero.any() else float("nan"),
        "mape_left_out": int((~nonzero).sum()),
        "directional_accuracy": float(np.mean(np.sign(y_hat - y_last) == np.sign(y - y_last))),
        "n_scored": int(known.sum()),
        "n_missing": int((~known).sum()),
    }
    if lower is not None:
        lower, upper = np.asarray(lower)[known], np.asarray(upper)[known]
        metrics["coverage"] = float(np.mean((lower <= y) & (y <= upper)))
    return metrics


def metrics_table(results):
    """A Markdown table of {model: metrics}, one row per model."""
    lines = ["| model | RMSE | MAE | MAPE % (zeros left out) | directional accuracy | "
             "coverage |", "|---|---|---|---|---|---|"]
    for name, m in results.items():
        coverage = f"{m['coverage']:.3f}" if "coverage" in m else "-"
        note = " (0 by construction)" if name == "persistence" else ""
        lines.append(f"| {name} | {m['rmse']:.4g} | {m['mae']:.4g} | {m['mape']:.4g} "
                     f"({m['mape_left_out']}) | {m['directional_accuracy']:.3f}{note} "
                     f"| {coverage} |")
    return "\n".join(lines)
