"""Datasets: real loaders (download with checksum into a cache, or a local path) and the
small embedded defaults that ship inside the package so the main job runs offline.

    download.py   fetch(): mirrors in turn, checksum, atomic write into the cache directory
    idx.py        the IDX file format of MNIST (gz or raw), validated
    mnist.py      load_mnist(): a local folder, the cache / mirrors, or the embedded subset
    series.py     time series as windows: splits, walk-forward, scalers, one-hot, missing values
    timetable.py  read_time_csv(): a CSV indexed by its date column, sorted, gaps reported
    stocks.py     load_stock(): any OHLCV CSV or the embedded tickers (adjusted close)
    weather.py    load_weather(): the embedded Seattle daily weather or a CSV like it
    pm25.py       load_pm25(): Beijing PM2.5 from a path, the cache or the UCI download
    text.py       UTF-8 text, the character vocabulary, contiguous streams for truncated BPTT
    corpora.py    load_corpus(): the embedded Lady Susan, Tiny Shakespeare, The Time Machine
"""
