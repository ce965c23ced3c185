"""The stock task on the embedded MSFT: next-day return walk-forward, persistence by hand."""

import json

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.data.stocks import load_stock


def test_next_day_return_walk_forward(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "stock", "--target", "return", "--folds", "2", "--epochs", "1",
                 "--hidden-size", "4", "--lookback", "5", "--threads", "1",
                 "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    prices = load_stock("MSFT", echo=lambda _: None)[0]
    returns = prices["return"].to_numpy()
    truth, last = returns[2616:], returns[2615:-1]  # the last 654 of 3270 days
    test = metrics["test"]
    assert list(test) == ["lstm", "persistence", "linear"] and metrics["folds"] == 2
    assert test["lstm"]["n_scored"] == test["linear"]["n_scored"] == 654
    assert test["persistence"]["rmse"] == pytest.approx(np.sqrt(np.mean((last - truth) ** 2)))
    assert metrics["test_period"] == [str(prices.index[2616]), str(prices.index[-1])]


def test_unknown_target_and_ticker(tmp_path, capsys):
    assert main(["train", "stock", "--target", "price", "--out", str(tmp_path / "r")]) == 1
    assert "unknown target 'price'; choose one of: close, return" in capsys.readouterr().err
    assert main(["train", "stock", "--ticker", "XOM", "--out", str(tmp_path / "r")]) == 1
    assert "no embedded ticker 'XOM'" in capsys.readouterr().err
