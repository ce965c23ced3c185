"""Datasets: real loaders (download with checksum into a cache, or a local path) and the
small embedded defaults that ship inside the package so the main job runs offline.

    download.py   fetch(): mirrors in turn, checksum, atomic write into the cache directory
    idx.py        the IDX file format of MNIST (gz or raw), validated
    mnist.py      load_mnist(): a local folder, the cache / mirrors, or the embedded subset
"""
