import pytest
import torch
from threadpoolctl import threadpool_info

from lstmkit.train.threads import set_threads


def test_set_threads_sets_blas_and_torch_together():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    finally:
        set_threads(before)


def test_set_threads_refuses_nonsense():
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        set_threads(0)


def test_set_threads_sets_numba_too_once_it_is_loaded():
    import numba  # as core.kernels loads it on the first fast call

    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert numba.get_num_threads() == 1
        set_threads(2)
        assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)
    finally:
        set_threads(before)
