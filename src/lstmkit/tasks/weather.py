"""Seattle weather: tomorrow's maximum temperature from the last two weeks of every column.

The embedded NOAA series (data.weather), 1,461 days 2012-2015: precipitation, temp_max,
temp_min, wind and the weather label (one-hot). The last 25% (2015) is the test period.
Baselines: persistence, the same day a year before (season 365), linear autoregression.
"""

from dataclasses import dataclass, replace

from lstmkit.data.weather import load_weather
from lstmkit.estimators import Forecaster
from lstmkit.tasks import forecast
from lstmkit.tasks.forecast import ForecastOptions, Series

ESTIMATOR = Forecaster
DEFAULTS = {"hidden_size": 32, "epochs": 30}  # else the Forecaster's
TARGET = "temp_max"


@dataclass(frozen=True)
class WeatherOptions(ForecastOptions):
    """Where the data come from; the window and the test period."""

    lookback: int = 14  # days of history each forecast reads
    season: int | None = 365  # days per season for the seasonal persistence baseline
    test_fraction: float = 0.25  # the last share of the days is the test period
    data: str | None = None  # a CSV of the same columns (else the embedded Seattle weather)


OPTIONS = WeatherOptions


def load(options: WeatherOptions, echo=print):
    """The daily weather as a Series forecasting temp_max from every column."""
    frame, source = load_weather(options.data, echo)
    return Series(frame, TARGET, source)


def train(params, options: WeatherOptions, out, *, resume=False, echo=print):
    """Forecaster and baselines on the weather series (tasks.forecast)."""
    return forecast.train("weather", load, params, options, out, resume=resume, echo=echo)


def evaluate_run(out, echo=print):
    """The run's model and the baselines on its test period, once more."""
    return forecast.evaluate_run(out, load, OPTIONS, echo)


def predict_file(out, path, echo=print):
    """The next days' maximum temperature from the last rows of a weather CSV."""
    return forecast.predict_file(out, lambda options, echo: load(replace(options, data=str(path)),
                                                                 echo), OPTIONS, echo)
