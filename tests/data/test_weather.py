"""The embedded Seattle weather is the shared file, parsed."""

from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.weather import load_weather

SHARED = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "seattle_weather"
          / "seattle-weather.csv")


def test_embedded_weather_is_the_shared_file():
    frame, source = load_weather()
    raw = pd.read_csv(SHARED)
    assert source == "embedded Seattle weather" and len(frame) == len(raw) == 1461
    assert list(frame.columns) == ["precipitation", "temp_max", "temp_min", "wind", "weather"]
    assert str(frame.index[0].date()) == "2012-01-01" and frame.index.is_monotonic_increasing
    assert np.array_equal(frame["temp_max"], raw["temp_max"])
    assert frame["weather"].tolist() == raw["weather"].tolist()
    same, _ = load_weather(SHARED)
    assert same.equals(frame)
