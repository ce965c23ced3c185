"""Beijing PM2.5 (UCI #381): hourly pollution and weather, 2010-01-01..2014-12-31.

43,824 rows; the columns are named as in the Keras multivariate LSTM tutorial:

    pollution  PM2.5 concentration (ug/m^3), missing ("NA") for 2,067 hours
    dew, temp, press   dew point (C), temperature (C), pressure (hPa)
    wnd_dir    combined wind direction: NE, NW, SE, cv (calm or variable): categorical
    wnd_spd    cumulated wind speed (m/s)
    snow, rain cumulated hours of snow and of rain

load_pm25() reads a path the user names, else the cache, else downloads the UCI file
(sha256 checked; 5 s connect timeout; LSTMKIT_OFFLINE=1 forbids it). It is not embedded
(CC BY 4.0, Song Xi Chen; cite Liang et al. 2015, Proc. R. Soc. A 471:20150257).
"""

from pathlib import Path

import pandas as pd

from lstmkit.data.download import DataUnavailable, cache_dir, fetch

FILENAME = "PRSA_data_2010.1.1-2014.12.31.csv"
SHA256 = "892e9559205d16d32623135c127a3951c12e46ea1e0b3093e107ce89a9fd60e2"
URLS = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/00381/" + FILENAME,
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pollution.csv",
)
COLUMNS = {"pm2.5": "pollution", "DEWP": "dew", "TEMP": "temp", "PRES": "press",
           "cbwd": "wnd_dir", "Iws": "wnd_spd", "Is": "snow", "Ir": "rain"}


def load_pm25(path=None, *, urls=URLS, progress=True):
    """(hourly DataFrame indexed by time, source) from path, else the cache or a download."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist; give the UCI file {FILENAME} "
                                    "(or the tutorial's pollution.csv)")
        source = str(path)
    else:
        try:
            path = fetch(FILENAME, urls, sha256=SHA256, dest_dir=cache_dir() / "beijing_pm25",
                         progress=progress)
        except DataUnavailable as error:
            raise DataUnavailable(f"Beijing PM2.5 is not available ({error}); download "
                                  f"{URLS[0]} and pass --data PATH") from None
        source = f"cache {path}"
    return parse_pm25(pd.read_csv(path), source), source


def parse_pm25(raw, name="the file"):
    """The raw UCI table (No, year, month, day, hour, pm2.5, ...) as the documented frame."""
    needed = ["year", "month", "day", "hour", *COLUMNS]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{name} is not the UCI Beijing PM2.5 file: no column(s) "
                         f"{', '.join(missing)}")
    times = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    frame = raw[list(COLUMNS)].rename(columns=COLUMNS)
    return frame.set_index(pd.DatetimeIndex(times, name="date")).sort_index(kind="stable")
