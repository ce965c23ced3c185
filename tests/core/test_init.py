"""Initialisation: torch.nn.LSTM / GRU's distribution U(-1/sqrt(H), 1/sqrt(H)) for every
parameter (compared with torch's own draws by a two-sample Kolmogorov-Smirnov statistic),
the optional forget-gate bias, parameter shapes and dtypes, and the seed."""

import numpy as np
import pytest
import torch

import lstmkit


def ks_statistic(a, b):
    """max |F_a(x) - F_b(x)| over the pooled sample: two-sample Kolmogorov-Smirnov."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    grid = np.concatenate([a, b])
    return np.abs(np.searchsorted(a, grid, "right") / a.size
                  - np.searchsorted(b, grid, "right") / b.size).max()


@pytest.mark.parametrize("ours, theirs", [(lstmkit.LSTM, torch.nn.LSTM),
                                          (lstmkit.GRU, torch.nn.GRU)])
def test_same_distribution_as_torch(ours, theirs):
    H = 64
    layer = ours(24, H, num_layers=2, seed=0)
    torch.manual_seed(0)
    reference = theirs(24, H, num_layers=2)
    mine = np.concatenate([p.ravel() for p in layer.params.values()])
    torch_values = np.concatenate([p.detach().numpy().ravel() for p in reference.parameters()])
    bound = 1 / np.sqrt(H)
    assert np.abs(mine).max() <= bound and np.abs(mine).max() > 0.99 * bound
    # 5% critical value of the two-sample KS test for samples this large is ~0.01
    assert ks_statistic(mine, torch_values) < 0.01


def test_forget_bias_sets_only_the_f_block():
    H = 5
    layer = lstmkit.LSTM(3, H, num_layers=2, bidirectional=True, forget_bias=1.0, seed=1)
    for key in ("l0.b", "l1_reverse.b"):
        b = layer.params[key]
        assert np.all(b[H:2 * H] == 1.0)
        assert np.abs(np.delete(b, np.s_[H:2 * H])).max() <= 1 / np.sqrt(H)


def test_shapes_dtypes_and_seed():
    layer = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, peephole=True,
                         dtype=np.float64, seed=7)
    expected = {"W_x": (3, 20), "W_h": (5, 20), "b": (20,), "P": (3, 5)}
    for prefix in ("l0", "l0_reverse"):
        for name, shape in expected.items():
            assert layer.params[f"{prefix}.{name}"].shape == shape
    assert layer.params["l1.W_x"].shape == (10, 20)
    assert all(p.dtype == np.float64 for p in layer.params.values())
    again = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, peephole=True,
                         dtype=np.float64, seed=7)
    assert all(np.array_equal(again.params[k], v) for k, v in layer.params.items())
    other = lstmkit.LSTM(3, 5, num_layers=2, bidirectional=True, peephole=True,
                         dtype=np.float64, seed=8)
    assert not np.array_equal(other.params["l0.W_x"], layer.params["l0.W_x"])
    gru = lstmkit.GRU(3, 5, seed=0)
    assert {k: v.shape for k, v in gru.params.items()} == {
        "l0.W_x": (3, 15), "l0.W_h": (5, 15), "l0.b_x": (15,), "l0.b_h": (15,)}
