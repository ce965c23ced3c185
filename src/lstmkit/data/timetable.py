"""read_time_csv(): a CSV with a date column as a DataFrame indexed by time, in time order.

The date column is the one named date_column, else the first column named date,
datetime, time or timestamp (any case). Rows out of order are sorted (with a notice);
duplicate times and unparseable dates are errors; gaps longer than four times the
usual step (the median) are reported, not filled: the series functions (data.series)
treat rows as consecutive steps.
"""

from pathlib import Path

import pandas as pd

DATE_NAMES = ("date", "datetime", "time", "timestamp")


def read_time_csv(path, date_column=None, echo=print):
    """The CSV at path (plain or .gz) indexed by its parsed date column, sorted by time."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    frame = pd.read_csv(path)
    return as_time_indexed(frame, date_column, name=path.name, echo=echo)


def as_time_indexed(frame, date_column=None, name="the table", echo=print):
    """frame indexed by its parsed date column, sorted, checked (see the module)."""
    if date_column is None:
        date_column = next((c for c in frame.columns if str(c).lower() in DATE_NAMES), None)
        if date_column is None:
            raise ValueError(f"{name} has no date column (one named {', '.join(DATE_NAMES)}); "
                             f"its columns are {', '.join(map(str, frame.columns))}: name one")
    elif date_column not in frame.columns:
        raise ValueError(f"{name} has no column {date_column!r}; its columns are "
                         f"{', '.join(map(str, frame.columns))}")
    times = pd.to_datetime(frame[date_column], errors="coerce", format="mixed")
    if times.isna().any():
        bad = frame[date_column][times.isna()].iloc[0]
        raise ValueError(f"{name}: {int(times.isna().sum())} value(s) of {date_column!r} are "
                         f"not dates (for example {bad!r}); fix or remove those rows")
    frame = frame.drop(columns=date_column).set_index(pd.DatetimeIndex(times, name="date"))
    if not frame.index.is_monotonic_increasing:
        echo(f"note: {name} is not in time order; sorted by {date_column}")
        frame = frame.sort_index(kind="stable")
    duplicated = frame.index.duplicated()
    if duplicated.any():
        raise ValueError(f"{name}: {int(duplicated.sum())} duplicate time(s), the first "
                         f"{frame.index[duplicated][0]}; keep one row per time")
    if (report := gap_report(frame.index)) is not None:
        echo(f"note: {name}: {report}")
    return frame


def gap_report(index):
    """A sentence on the steps of a sorted DatetimeIndex longer than 4 x its median step,
    or None when there are none."""
    if len(index) < 3:
        return None
    steps = index[1:] - index[:-1]
    usual = steps.median()
    long = steps > 4 * usual
    if not long.any():
        return None
    widest = int(steps.argmax())
    return (f"{int(long.sum())} gap(s) longer than 4 x the usual step of {usual}, the widest "
            f"from {index[widest]} to {index[widest + 1]}; rows are used as consecutive steps")
