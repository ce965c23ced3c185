"""Buffers the fast kernels (core.kernels) keep from call to call.

A fresh large NumPy array costs its first-touch page faults on every call: glibc maps an
allocation above 128 kB to new pages, and each page faults on its first write (about 4 us a
page on the 2-core test machine: 10 of the 23 ms of a stock training step). empty(shape,
dtype) hands out a kept buffer of the same size when nothing refers to it any more (its
reference count says so: a view of it, a tape, an output the caller still holds all count),
else a new one, which it keeps. At most MAX_BYTES are kept (a buffer on huge pages counted
by its whole pages), the least recently used let go first; what a caller holds stays valid
whatever the workspace does.

A buffer of HUGE_MIN_BYTES and up starts on a 2 MiB boundary of its own mapping, which asks
Linux for transparent huge pages (madvise; the kernel's setting "madvise" or "always" grants
them): the few such buffers of a step (its gates, dZ, H and C over all steps) then take a
handful of TLB entries rather than one per 4 kB page, each of whose misses costs a page walk
(two-level on a virtual machine) when a step starts on caches another program has used.
NumPy asks the same for its own allocations from 4 MiB, which leave the unaligned ends out.
Measured on the 2-core test machine, training steps interleaved with torch, 2 threads, buffers
from 512 kB on huge pages against plain ones, rounds of 21: mnist's LSTM 2-12% faster in five
rounds of six (-0.6% in one), stock's 4-6%; charlm's, large's and mnist's GRU within the
noise (-4 to +4%), their buffers larger (NumPy's own advice covers most of them) or fewer.
"""

import math
import mmap
import sys
import threading

import numpy as np

MIN_BYTES = 2**17  # smaller arrays come from glibc's heap, whose pages are already mapped
MAX_BYTES = 2**28  # 256 MiB kept at most
HUGE_MIN_BYTES = 2**19  # from here on a buffer is on huge pages where the system has them
_HUGE_PAGE = 2**21

_kept = []  # flat uint8 buffers, the least recently used first
_kept_total = 0  # the sum of their _footprint
_lock = threading.Lock()


def empty(shape, dtype):
    """np.empty(shape, dtype), in a kept buffer when one of its size is free."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize  # math.prod: np.prod's call costs 5 us
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    global _kept_total
    with _lock:
        for i in range(len(_kept)):
            buffer = _kept[i]
            if buffer.nbytes == nbytes and sys.getrefcount(buffer) == 3:  # _kept, buffer, here
                del _kept[i]
                break
        else:
            buffer = _new_buffer(nbytes)
            _kept_total += _footprint(buffer)
        _kept.append(buffer)
        while _kept_total > MAX_BYTES and len(_kept) > 1:
            _kept_total -= _footprint(_kept.pop(0))
        return buffer.view(dtype).reshape(shape)


def _new_buffer(nbytes):
    """A flat uint8 array of nbytes: on Linux from HUGE_MIN_BYTES up, at a 2 MiB boundary of
    its own private anonymous mapping, whose whole huge pages from there on are advised (one
    resident huge page a 2 MiB or less of the buffer, once written); else from NumPy."""
    if nbytes < HUGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.empty(nbytes, np.uint8)
    pages = _whole_pages(nbytes)
    mapping = mmap.mmap(-1, pages + _HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    start = -np.frombuffer(mapping, np.uint8, count=1).ctypes.data % _HUGE_PAGE
    mapping.madvise(mmap.MADV_HUGEPAGE, start, pages)
    # an array whose base is the mapping, not another array: views of it refer to it, as
    # empty()'s reference count needs (NumPy would collapse a slice's views onto its base)
    return np.ndarray((nbytes,), np.uint8, buffer=mapping, offset=start)


def _footprint(buffer):
    """The memory a kept buffer holds once written: a mapping's buffer its huge pages whole,
    others their size."""
    if isinstance(buffer.base, mmap.mmap):
        return _whole_pages(buffer.nbytes)
    return buffer.nbytes


def _whole_pages(nbytes):
    """nbytes rounded up to whole huge pages."""
    return -(-nbytes // _HUGE_PAGE) * _HUGE_PAGE


def kept_bytes():
    """How many bytes the workspace keeps now (huge pages whole)."""
    with _lock:
        return _kept_total
