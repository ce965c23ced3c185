"""Time series as supervised windows: the pieces every forecasting task shares.

Rows are time steps in order, T of them. A window with origin t reads the `lookback` input
rows t-L+1..t and predicts the target rows t+1..t+H (H = horizon):

    inputs  X[n] = rows origin[n]-L+1 .. origin[n]   (L, F)
    targets y[n] = rows origin[n]+1   .. origin[n]+H (H,) or (H, K) for K target columns

Rules, stated once:
- Missing values. Inputs: each column is carried forward from its last observed value
  (no look-ahead); what is still missing (before a column's first observation) takes the
  training mean. Targets are never filled: a target that is missing, or lies beyond the
  last row, is NaN, and such windows are neither trained on nor scored (entry by entry).
- Splits are chronological. A window belongs to the part of the rows that holds its
  targets; scalers, categories and fill values are fitted on the training rows only.
- Walk-forward (rolling origin): the test rows are cut into folds; fold k trains on every
  row before it (an expanding window) and is scored on its own rows.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

SCALES = ("standard", "minmax", "none")


class Windows(NamedTuple):
    """Sliding windows over a series and the row index of each window's origin."""

    X: np.ndarray  # (N, L, F) inputs
    y: np.ndarray  # (N, H) or (N, H, K) targets; NaN where missing or beyond the last row
    last: np.ndarray  # (N,) or (N, K) the targets' last known values at the origin
    origin: np.ndarray  # (N,) row of each window's last input step

    def take(self, index):
        return Windows(*(part[index] for part in self))


def windows(inputs, targets, lookback, horizon=1, stride=1):
    """Windows with origins lookback-1, lookback-1+stride, ... up to the last row.

    inputs (T, F), targets (T,) or (T, K); the last windows' targets run past the end of
    the series and are NaN there (so the forecast from the last row is still made).
    """
    inputs, targets = np.asarray(inputs), np.asarray(targets, np.float64)
    for name, value in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if len(targets) != len(inputs):
        raise ValueError(f"inputs have {len(inputs)} rows but targets {len(targets)}")
    if len(inputs) < lookback:
        raise ValueError(f"the series has {len(inputs)} rows, fewer than lookback={lookback}: "
                         "give a longer series or a shorter lookback")
    X = np.moveaxis(sliding_window_view(inputs, lookback, axis=0), -1, 1)  # (T-L+1, L, F)
    beyond = np.full((horizon, *targets.shape[1:]), np.nan)
    future = np.concatenate([targets[lookback:], beyond])
    y = np.moveaxis(sliding_window_view(future, horizon, axis=0), -1, 1)  # (T-L+1, H, ...)
    origin = np.arange(lookback - 1, len(inputs))
    last = last_known(targets)[origin]
    return Windows(X[::stride], y[::stride], last[::stride], origin[::stride])


def targets_within(origin, horizon, start, stop):
    """Mask of the windows whose target rows origin+1 .. origin+horizon lie in [start, stop)."""
    origin = np.asarray(origin)
    return (origin + 1 >= start) & (origin + horizon < stop)


class Fold(NamedTuple):
    """One walk-forward fold: train on rows [0, train_end), test on [train_end, test_end)."""

    train_end: int
    test_end: int


def walk_forward(n_rows, test_fraction, folds=1):
    """The folds that cut the last test_fraction of n_rows into `folds` consecutive parts."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    test_start = n_rows - round(test_fraction * n_rows)
    bounds = np.linspace(test_start, n_rows, folds + 1).round().astype(int)
    if test_start < 1 or np.any(np.diff(bounds) < 1):
        raise ValueError(f"{n_rows} rows do not make {folds} test fold(s) from the last "
                         f"{test_fraction:.0%} with training rows before them: use fewer "
                         "folds or a longer series")
    return [Fold(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass(frozen=True)
class Scaler:
    """value -> (value - center) / scale per column; fitted with fit_scaler."""

    center: np.ndarray  # (F,)
    scale: np.ndarray  # (F,)

    def transform(self, values):
        return (np.asarray(values, np.float64) - self.center) / self.scale

    def inverse(self, values, column=None):
        """Back to real units: all columns, or the one column `column` for any shape."""
        if column is None:
            return np.asarray(values) * self.scale + self.center
        return np.asarray(values) * self.scale[column] + self.center[column]


def fit_scaler(values, kind="standard"):
    """A Scaler fitted on values (rows, F), NaN ignored: standard (mean 0, standard
    deviation 1), minmax (into [0, 1]) or none. A constant column keeps scale 1."""
    values = np.asarray(values, np.float64).reshape(len(values), -1)
    if kind not in SCALES:
        raise ValueError(f"unknown scale {kind!r}; choose one of: {', '.join(SCALES)}")
    observed = ~np.isnan(values)
    if not observed.any(axis=0).all():
        raise ValueError("a column has no observed value in the training rows; drop it")
    if kind == "none":
        return Scaler(np.zeros(values.shape[1]), np.ones(values.shape[1]))
    if kind == "standard":
        center, scale = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    else:
        center = np.nanmin(values, axis=0)
        scale = np.nanmax(values, axis=0) - center
    return Scaler(center, np.where(scale > 0, scale, 1.0))


def as_frame(frame):
    """A DataFrame from a DataFrame (kept as it is) or a (T, F) array (columns 0..F-1)."""
    if isinstance(frame, pd.DataFrame):
        return frame
    array = np.asarray(frame)
    if array.ndim != 2:
        raise ValueError(f"the series has shape {array.shape}; give a DataFrame or a (T, F) "
                         "array, one row per time step")
    return pd.DataFrame(array)


def check_columns(frame, target, features=None):
    """(feature columns, the categorical ones among them) of frame, after checking that
    target and features are columns and that the target is numeric."""
    columns = list(frame.columns)
    features = columns if features is None else list(features)
    unknown = [c for c in [target, *features] if c not in frame.columns]
    if unknown:
        raise ValueError(f"no column {unknown[0]!r} in the series; its columns are: "
                         f"{', '.join(map(str, columns))}")
    if not pd.api.types.is_numeric_dtype(frame[target]):
        example = frame[target].dropna().iloc[0] if frame[target].notna().any() else None
        raise ValueError(f"target column {target!r} is not numeric (it holds values such as "
                         f"{example!r}): choose a numeric column or convert it first")
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    return features, categorical


def encode(frame, features, categories):
    """(values (T, F') float64, their column names): the features, categorical ones one-hot."""
    table = one_hot(frame[features], categories)
    return table.to_numpy(np.float64), [str(c) for c in table.columns]


def categories(frame, columns):
    """{column: its sorted distinct non-missing values} of the categorical columns."""
    return {column: sorted(frame[column].dropna().unique().tolist()) for column in columns}


def one_hot(frame, categories):
    """frame with each categorical column replaced by one 0/1 column per category, named
    "column=value", in place; a value outside the categories (or missing) gives all zeros."""
    parts = []
    for column in frame.columns:
        if column in categories:
            values = frame[column]
            parts += [(values == c).astype(np.float64).rename(f"{column}={c}")
                      for c in categories[column]]
        else:
            parts.append(frame[column])
    return pd.concat(parts, axis=1)


def fill_inputs(values, fill):
    """Missing inputs carried forward per column, then the rest set to fill (F,)."""
    filled = pd.DataFrame(np.asarray(values, np.float64)).ffill().to_numpy()
    return np.where(np.isnan(filled), np.asarray(fill, np.float64), filled)


def last_known(values):
    """Each column of values (T,) or (T, K) carried forward over missing values (leading
    NaN stay)."""
    values = np.asarray(values, np.float64)
    return pd.DataFrame(values.reshape(len(values), -1)).ffill().to_numpy().reshape(values.shape)
