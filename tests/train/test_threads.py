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

    # two counts numba can take, so that each call below must change it
    assert numba.config.NUMBA_NUM_THREADS >= 2, "this test needs a machine of 2 cores or more"
    before = torch.get_num_threads()
    try:
        for n in (1, 2, 1):
            set_threads(n)
            assert numba.get_num_threads() == n
    finally:
        set_threads(before)
