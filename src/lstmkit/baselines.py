"""The obvious forecasts an LSTM must beat, on the same windows (data.series.Windows).

    persistence            y^(t+k) = y(t)                                  the last value
    seasonal persistence   y^(t+k) = y(t + k - s * ceil(k / s))            the last season
    linear autoregression  y^(t+1..t+H) = [vec(X_window), 1] @ W          least squares

y(t) is the target's last known value at the origin t (data.series.last_known), s the
season in rows, X_window the window's (L, F) inputs flattened, W ((L * F + 1), H).
NumPy only.
"""

import numpy as np


def persistence(last, horizon):
    """(N, H): each window's last known target value last (N,), for every step ahead."""
    return np.repeat(np.asarray(last, np.float64)[:, None], horizon, axis=1)


def seasonal_persistence(known, origin, horizon, season):
    """(N, H): the value one season (or as many as needed) before each target row;
    NaN where that row lies before the start of the series."""
    if season < 1:
        raise ValueError(f"season must be at least 1 row, got {season}")
    steps = np.arange(1, horizon + 1)
    rows = np.asarray(origin)[:, None] + steps - season * np.ceil(steps / season).astype(int)
    known = np.asarray(known, np.float64)
    return np.where(rows >= 0, known[np.maximum(rows, 0)], np.nan)


class LinearAutoregression:
    """Least squares with an intercept on the flattened window: coef_ ((L*F + 1), H)."""

    def fit(self, X, y):
        """X (N, L, F) windows, y (N, H) targets (no NaN). Returns self."""
        design = self._design(X)
        y = np.asarray(y, np.float64)
        if len(design) < 2:
            raise ValueError(f"the linear baseline needs at least 2 training windows, got "
                             f"{len(design)}")
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        return self

    def predict(self, X):
        """(N, H) forecasts."""
        return self._design(X) @ self.coef_

    @staticmethod
    def _design(X):
        X = np.asarray(X, np.float64)
        return np.hstack([X.reshape(len(X), -1), np.ones((len(X), 1))])  # (N, L*F + 1)
