"""Next-day stock price or return of one ticker, scored walk-forward against the baselines.

The series is the ticker's daily adjusted close (data.stocks); the target is the close
itself or its relative change from the day before (`--target return`), forecast from the
last `lookback` values of the target alone. The last 20% of the days are the test period,
cut into 4 walk-forward folds, each trained on every day before it. Daily prices are
close to a random walk: expect persistence to be hard to beat, and read the table. For
returns, persistence repeats yesterday's return, a weak baseline; the random walk's
forecast of a return is about 0, which the linear baseline (it learns the mean) stands for.
"""

from dataclasses import dataclass, replace

from lstmkit.data.stocks import load_stock
from lstmkit.estimators import Forecaster
from lstmkit.tasks import forecast
from lstmkit.tasks.forecast import ForecastOptions, Series

ESTIMATOR = Forecaster
DEFAULTS = {"hidden_size": 32, "epochs": 20}  # else the Forecaster's
TARGETS = ("close", "return")


@dataclass(frozen=True)
class StockOptions(ForecastOptions):
    """Which prices, which target, and the walk-forward test."""

    lookback: int = 20  # trading days of history each forecast reads
    folds: int = 4  # walk-forward folds over the test period, each trained on all days before it
    ticker: str = "MSFT"  # embedded: MSFT, AAPL or IBM; with --csv, the rows of this Ticker
    csv: str | None = None  # any OHLCV CSV with a date column (Adj Close used where present)
    target: str = "close"  # close (the adjusted close) | return (its change from the day before)


OPTIONS = StockOptions


def load(options: StockOptions, echo=print):
    """The ticker's prices as a Series forecasting options.target from itself."""
    if options.target not in TARGETS:
        raise ValueError(f"unknown target {options.target!r}; choose one of: {', '.join(TARGETS)}")
    prices, source = load_stock(options.ticker, options.csv, echo)
    return Series(prices, options.target, source, features=[options.target])


def train(params, options: StockOptions, out, *, resume=False, echo=print):
    """Walk-forward Forecaster and baselines on the stock series (tasks.forecast)."""
    return forecast.train("stock", load, params, options, out, resume=resume, echo=echo)


def evaluate_run(out, echo=print):
    """The run's model and the baselines on its last test fold, once more."""
    return forecast.evaluate_run(out, load, OPTIONS, echo)


def predict_file(out, path, echo=print):
    """The next days' forecast from the last row of an OHLCV CSV."""
    return forecast.predict_file(out, lambda options, echo: load(replace(options, csv=str(path)),
                                                                 echo), OPTIONS, echo)
