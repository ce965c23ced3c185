"""Daily stock prices: any OHLCV CSV the user names, or the embedded tickers.

load_stock() returns a DataFrame indexed by date with the columns open, high, low, close,
volume (those the file has; close is required) and return, the close's relative change
from the previous row (NaN on the first). `close` is the adjusted close where the file has
one ("Adj Close", "adj_close", "adjusted close", any case): splits and dividends would
otherwise show as jumps. A Ticker column, when present, selects the rows of `ticker`.

Embedded: MSFT, AAPL and IBM, 2000-03-01..2013-03-01, from the public-domain Quandl WIKI
prices (embedded/DATA_LICENSES).
"""

from pathlib import Path

import pandas as pd

from lstmkit.data.timetable import as_time_indexed

EMBEDDED = Path(__file__).parent / "embedded" / "stocks-msft-aapl-ibm.csv.gz"
EMBEDDED_TICKERS = ("MSFT", "AAPL", "IBM")
ADJUSTED = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close")
PRICES = ("open", "high", "low", "close", "volume")


def load_stock(ticker="MSFT", csv=None, echo=print):
    """(prices DataFrame (see the module), source) from csv, else the embedded ticker."""
    if csv is None:
        if ticker.upper() not in EMBEDDED_TICKERS:
            raise ValueError(f"no embedded ticker {ticker!r}: choose one of "
                             f"{', '.join(EMBEDDED_TICKERS)} or pass --csv FILE")
        source = f"embedded {ticker.upper()}"
        table = pd.read_csv(EMBEDDED)
    else:
        if not Path(csv).is_file():
            raise FileNotFoundError(f"{csv} does not exist")
        source = str(csv)
        table = pd.read_csv(csv)
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "ticker" in table.columns:
        tickers = sorted(table["ticker"].astype(str).unique())
        table = table[table["ticker"].astype(str).str.upper() == ticker.upper()]
        if table.empty:
            raise ValueError(f"{source} has no rows of ticker {ticker!r}; it holds "
                             f"{', '.join(tickers)}")
        table = table.drop(columns="ticker")
        source += f" {ticker.upper()}" if csv is not None else ""
    adjusted = next((c for c in ADJUSTED if c in table.columns), None)
    if adjusted is not None:
        table = table.drop(columns="close", errors="ignore").rename(columns={adjusted: "close"})
    if "close" not in table.columns:
        raise ValueError(f"{source} has no close column (columns: {', '.join(table.columns)}); "
                         "an OHLCV file needs at least date and close")
    prices = as_time_indexed(table, name=Path(source).name, echo=echo)
    prices = prices[[c for c in PRICES if c in prices.columns]]
    for column in prices.columns:
        if not pd.api.types.is_numeric_dtype(prices[column]):
            raise ValueError(f"{source}: column {column!r} is not numeric; fix the file")
    prices = prices.assign(**{"return": prices["close"].pct_change(fill_method=None)})
    return prices, source
