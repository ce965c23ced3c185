"""Any CSV with a date column: forecast the column --target from every column (or
--features), rows sorted by date (data.timetable), scored against the baselines.

    lstmkit train csv FILE --target COL [--features A,B] [--lookback 24 --season 7 ...]
"""

from dataclasses import dataclass, field, replace

from lstmkit.data.timetable import read_time_csv
from lstmkit.estimators import Forecaster
from lstmkit.tasks import forecast
from lstmkit.tasks.forecast import ForecastOptions, Series

ESTIMATOR = Forecaster
DEFAULTS = {}  # the Forecaster's


@dataclass(frozen=True)
class CsvOptions(ForecastOptions):
    """The file, its date column, the target and the input columns."""

    file: str = field(kw_only=True)  # the CSV file, one row per time step
    target: str | None = None  # the numeric column to forecast (required)
    features: str | None = None  # comma-separated input columns (default: every column)
    date_column: str | None = None  # the dates (default: a column named date, time, ...)


OPTIONS = CsvOptions


def load(options: CsvOptions, echo=print):
    """The file as a Series forecasting options.target."""
    frame = read_time_csv(options.file, options.date_column, echo)
    if options.target is None:
        raise ValueError(f"name the column to forecast with --target; {options.file} has "
                         f"{', '.join(map(str, frame.columns))}")
    features = None if options.features is None else options.features.split(",")
    return Series(frame, options.target, options.file, features)


def train(params, options: CsvOptions, out, *, resume=False, echo=print):
    """Forecaster and baselines on the file's series (tasks.forecast)."""
    return forecast.train("csv", load, params, options, out, resume=resume, echo=echo)


def evaluate_run(out, echo=print):
    """The run's model and the baselines on its last test fold, once more."""
    return forecast.evaluate_run(out, load, OPTIONS, echo)


def predict_file(out, path, echo=print):
    """The forecast from the last rows of another CSV with the same columns."""
    return forecast.predict_file(out, lambda options, echo: load(replace(options, file=str(path)),
                                                                 echo), OPTIONS, echo)
