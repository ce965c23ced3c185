"""Buffers the fast kernels (core.kernels) keep from call to call.

A fresh large NumPy array costs its first-touch page faults on every call: glibc maps an
allocation above 128 kB to new pages, and each page faults on its first write (about 4 us a
page on the 2-core test machine: 10 of the 23 ms of a stock training step). empty(shape,
dtype) hands out a kept buffer of the same size when nothing refers to it any more (its
reference count says so: a view of it, a tape, an output the caller still holds all count),
else a new one, which it keeps. At most MAX_BYTES are kept, the least recently used let go
first; what a caller holds stays valid whatever the workspace does.
"""

import math
import sys
import threading

import numpy as np

MIN_BYTES = 2**17  # smaller arrays come from glibc's heap, whose pages are already mapped
MAX_BYTES = 2**28  # 256 MiB kept at most

_kept = []  # flat uint8 buffers, the least recently used first
_lock = threading.Lock()


def empty(shape, dtype):
    """np.empty(shape, dtype), in a kept buffer when one of its size is free."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize  # math.prod: np.prod's call costs 5 us
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        for i in range(len(_kept)):
            buffer = _kept[i]
            if buffer.nbytes == nbytes and sys.getrefcount(buffer) == 3:  # _kept, buffer, here
                del _kept[i]
                break
        else:
            buffer = np.empty(nbytes, np.uint8)
        _kept.append(buffer)
        while sum(b.nbytes for b in _kept) > MAX_BYTES and len(_kept) > 1:
            del _kept[0]
        return buffer.view(dtype).reshape(shape)


def kept_bytes():
    """How many bytes the workspace keeps now."""
    with _lock:
        return sum(b.nbytes for b in _kept)
