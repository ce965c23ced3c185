"""Stock loader: the embedded tickers are the shared file's rows; any OHLCV CSV works."""

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.stocks import load_stock

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stocks_quandl_wiki"


def shared_rows(ticker):
    with gzip.open(SHARED / "stocks.csv.gz", "rt") as f:
        table = pd.read_csv(f)
    return table[table["Ticker"] == ticker].reset_index(drop=True)


@pytest.mark.parametrize("ticker", ["MSFT", "AAPL", "IBM"])
def test_embedded_ticker_is_the_shared_data_with_adjusted_close(ticker):
    prices, source = load_stock(ticker.lower(), echo=lambda _: None)
    rows = shared_rows(ticker)
    assert source == f"embedded {ticker}" and len(prices) == len(rows) == 3270
    assert [str(d.date()) for d in prices.index] == rows["Date"].tolist()
    assert np.array_equal(prices["close"], rows["Adj Close"])  # the adjusted close
    assert np.array_equal(prices["open"], rows["Open"])
    expected_return = rows["Adj Close"].to_numpy()[1:] / rows["Adj Close"].to_numpy()[:-1] - 1
    assert np.isnan(prices["return"].iloc[0])
    assert np.allclose(prices["return"].to_numpy()[1:], expected_return)


def test_a_user_csv_unsorted_without_adjusted_close(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("date,open,high,low,close,volume\n2021-01-05,2,2,2,12,100\n"
                    "2021-01-04,1,1,1,10,100\n2021-01-06,3,3,3,9,100\n")
    notes = []
    prices, source = load_stock(csv=path, echo=notes.append)
    assert prices["close"].tolist() == [10, 12, 9] and source == str(path)
    assert np.allclose(prices["return"].to_numpy()[1:], [0.2, -0.25])
    assert "not in time order" in notes[0]


def test_a_user_csv_with_tickers_and_bad_files(tmp_path):
    buffer = io.StringIO()
    shared_rows("IBM").head(5).assign(Ticker="IBM").to_csv(buffer, index=False)
    path = tmp_path / "ibm.csv"
    path.write_text(buffer.getvalue())
    prices, source = load_stock("ibm", csv=path)
    assert len(prices) == 5 and source.endswith("ibm.csv IBM")
    with pytest.raises(ValueError, match="has no rows of ticker 'XOM'; it holds IBM"):
        load_stock("XOM", csv=path)
    with pytest.raises(ValueError, match="no embedded ticker 'XOM': choose one of MSFT, AAPL, "
                                         "IBM or pass --csv FILE"):
        load_stock("XOM")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open\n2021-01-04,1\n")
    with pytest.raises(ValueError, match="has no close column"):
        load_stock(csv=bad)
    text = tmp_path / "text.csv"
    text.write_text("date,close\n2021-01-04,1\n2021-01-05,n/a?\n")
    with pytest.raises(ValueError, match="column 'close' is not numeric; fix the file"):
        load_stock(csv=text)
