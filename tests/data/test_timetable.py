"""A CSV with unsorted dates, gaps, duplicates and bad dates gets clear handling."""

import pytest

from lstmkit.data.timetable import gap_report, read_time_csv

UNSORTED = """Date,value,label
2020-01-03,3.0,c
2020-01-01,1.0,a
2020-01-02,,b
2020-01-04,4.0,d
2020-01-20,20.0,e
"""


def write(tmp_path, text, name="series.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unsorted_rows_are_sorted_and_gaps_reported(tmp_path):
    notes = []
    frame = read_time_csv(write(tmp_path, UNSORTED), echo=notes.append)
    assert [str(d.date()) for d in frame.index] == ["2020-01-01", "2020-01-02", "2020-01-03",
                                                   "2020-01-04", "2020-01-20"]
    assert frame["label"].tolist() == ["a", "b", "c", "d", "e"]
    assert frame["value"].isna().tolist() == [False, True, False, False, False]  # kept as NaN
    assert notes[0] == "note: series.csv is not in time order; sorted by Date"
    assert notes[1].startswith("note: series.csv: 1 gap(s) longer than 4 x the usual step of "
                               "1 days")
    assert "the widest from 2020-01-04 00:00:00 to 2020-01-20 00:00:00" in notes[1]


def test_a_named_date_column_and_regular_steps_give_no_note(tmp_path):
    notes = []
    frame = read_time_csv(write(tmp_path, "when,x\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n"),
                          date_column="when", echo=notes.append)
    assert frame["x"].tolist() == [1, 2] and notes == []


def test_bad_tables_are_refused(tmp_path):
    with pytest.raises(ValueError, match="has no date column .*; its columns are x, y: name one"):
        read_time_csv(write(tmp_path, "x,y\n1,2\n"))
    with pytest.raises(ValueError, match=r"1 value\(s\) of 'date' are not dates \(for example "
                                         r"'yesterday'\)"):
        read_time_csv(write(tmp_path, "date,x\n2020-01-01,1\nyesterday,2\n"))
    with pytest.raises(ValueError, match=r"1 duplicate time\(s\), the first 2020-01-02"):
        read_time_csv(write(tmp_path, "date,x\n2020-01-01,1\n2020-01-02,2\n2020-01-02,3\n"))
    with pytest.raises(ValueError, match="has no column 'day'"):
        read_time_csv(write(tmp_path, "date,x\n2020-01-01,1\n"), date_column="day")
    with pytest.raises(FileNotFoundError, match="nothing.csv does not exist"):
        read_time_csv(tmp_path / "nothing.csv")


def test_gap_report_needs_three_rows():
    import pandas as pd

    assert gap_report(pd.DatetimeIndex(["2020-01-01", "2020-03-01"])) is None
