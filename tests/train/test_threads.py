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
