import numpy as np
import pytest
import torch

from lstmkit.core.gradcheck import numerical_grad
from lstmkit.core.losses import mae, mse, softmax_cross_entropy


def test_cross_entropy_matches_torch_and_is_stable():
    rng = np.random.default_rng(0)
    S = rng.standard_normal((3, 5, 6)) * 4
    S[0, 0, 2] = 1e4  # a huge logit must not overflow
    y = rng.integers(0, 6, (3, 5))
    loss, dS = softmax_cross_entropy(S, y)
    St = torch.tensor(S, requires_grad=True)
    Lt = torch.nn.functional.cross_entropy(St.reshape(-1, 6), torch.tensor(y).reshape(-1))
    Lt.backward()
    assert abs(loss - Lt.item()) < 1e-12
    assert np.abs(dS - St.grad.numpy()).max() < 1e-14


def test_cross_entropy_keeps_float32():
    S = np.ones((2, 3), np.float32)
    loss, dS = softmax_cross_entropy(S, np.array([0, 2]))
    assert dS.dtype == np.float32
    assert np.isclose(loss, np.log(3))


def test_mse_matches_torch():
    rng = np.random.default_rng(1)
    Y, T = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss, dY = mse(Y, T)
    Yt = torch.tensor(Y, requires_grad=True)
    Lt = torch.nn.functional.mse_loss(Yt, torch.tensor(T))
    Lt.backward()
    assert abs(loss - Lt.item()) < 1e-14
    assert np.abs(dY - Yt.grad.numpy()).max() < 1e-15


def test_mae_matches_torch_and_centered_differences():
    rng = np.random.default_rng(2)
    Y, T = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))  # no Y == T: no kink
    loss, dY = mae(Y, T)
    Yt = torch.tensor(Y, requires_grad=True)
    Lt = torch.nn.functional.l1_loss(Yt, torch.tensor(T))
    Lt.backward()
    assert abs(loss - Lt.item()) < 1e-14
    assert np.abs(dY - Yt.grad.numpy()).max() < 1e-15
    numerical = numerical_grad(lambda: mae(Y, T)[0], Y).reshape(Y.shape)
    assert np.abs(dY - numerical).max() < 1e-9


def test_mae_gradient_is_zero_where_the_prediction_is_exact():
    loss, dY = mae(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    assert loss == 1.0 and dY.tolist() == [0.0, -0.5]


def test_losses_refuse_bad_targets():
    S = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"labels must lie in 0..2 \(3 classes\)"):
        softmax_cross_entropy(S, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"labels have shape \(3,\), expected \(2,\)"):
        softmax_cross_entropy(S, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="class labels must be integers"):
        softmax_cross_entropy(S, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"targets have shape \(2,\), expected \(2, 3\)"):
        mse(S, np.zeros(2))
    with pytest.raises(ValueError, match=r"targets have shape \(2,\), expected \(2, 3\)"):
        mae(S, np.zeros(2))
