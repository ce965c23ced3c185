"""One thread count for every engine in the process: BLAS, numba and torch (where loaded).

Two engines each starting their own pool of threads on a 2-core machine oversubscribe it;
setting them together keeps one worker per core.
"""

import os
import sys

from threadpoolctl import threadpool_limits


def set_threads(n):
    """Use n threads in BLAS (threadpoolctl), numba and torch. Returns n."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    numba = sys.modules.get("numba")  # loaded by core.kernels, the one module importing it
    if numba is not None:  # first: it may load an OpenMP runtime for threadpoolctl to limit
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    else:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    threadpool_limits(limits=n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return n
