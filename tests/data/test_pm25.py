"""Beijing PM2.5: the real download code path from 127.0.0.1, the checksum, the cache,
offline and path errors; the shared file parses into the documented frame."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.download import DataUnavailable
from lstmkit.data.pm25 import FILENAME, load_pm25, parse_pm25

SHARED = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "beijing_pm25"
          / "pollution.csv")


def test_path_gives_the_documented_frame():
    frame, source = load_pm25(SHARED)
    raw = pd.read_csv(SHARED)
    assert source == str(SHARED) and frame.shape == (43824, 8)
    assert list(frame.columns) == ["pollution", "dew", "temp", "press", "wnd_dir", "wnd_spd",
                                   "snow", "rain"]
    assert str(frame.index[0]) == "2010-01-01 00:00:00"
    assert str(frame.index[-1]) == "2014-12-31 23:00:00"
    assert int(frame["pollution"].isna().sum()) == int(raw["pm2.5"].isna().sum()) == 2067
    assert np.array_equal(frame["pollution"].to_numpy(), raw["pm2.5"].to_numpy(), equal_nan=True)
    assert sorted(frame["wnd_dir"].unique()) == ["NE", "NW", "SE", "cv"]


def test_download_checks_and_caches(server, isolated_cache):
    url = server.serve("/pm25.csv", SHARED.read_bytes())
    frame, source = load_pm25(urls=[url], progress=False)
    assert len(frame) == 43824 and source.startswith("cache ")
    assert (isolated_cache / "beijing_pm25" / FILENAME).is_file()
    again, _ = load_pm25(urls=[url], progress=False)
    assert server.hits == ["/pm25.csv"] and again.equals(frame)  # the cache, no second download


def test_a_wrong_download_and_offline_give_one_clear_line(server, monkeypatch):
    url = server.serve("/pm25.csv", SHARED.read_bytes()[:-10])
    with pytest.raises(DataUnavailable, match="Beijing PM2.5 is not available .*sha256 is"):
        load_pm25(urls=[url], progress=False)
    monkeypatch.setenv("LSTMKIT_OFFLINE", "1")
    with pytest.raises(DataUnavailable) as error:
        load_pm25()
    message = str(error.value)
    assert "\n" not in message and "LSTMKIT_OFFLINE=1 forbids downloading" in message
    assert message.endswith("and pass --data PATH")


def test_bad_paths_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; give the UCI file"):
        load_pm25(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="not the UCI Beijing PM2.5 file: no column"):
        parse_pm25(pd.DataFrame({"year": [2010]}))
