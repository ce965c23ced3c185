import numpy as np
import pytest
import torch

from lstmkit.core.dense import Dense


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-8)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_dense_matches_torch_linear(dtype, tol):
    rng = np.random.default_rng(0)
    layer = Dense(5, 3, dtype=dtype, seed=1)
    X = rng.standard_normal((4, 2, 5)).astype(dtype)
    R = rng.standard_normal((4, 2, 3)).astype(dtype)
    Y = layer(X)
    dX = layer.backward(R)

    Xt = torch.tensor(X, requires_grad=True)
    W = torch.tensor(layer.params["W"].T.copy(), requires_grad=True)
    b = torch.tensor(layer.params["b"], requires_grad=True)
    Yt = torch.nn.functional.linear(Xt, W, b)
    (Yt * torch.tensor(R)).sum().backward()

    assert Y.dtype == dtype and dX.dtype == dtype
    assert rel_err(Y, Yt.detach().numpy()) < tol
    assert rel_err(dX, Xt.grad.numpy()) < tol
    assert rel_err(layer.grads["W"], W.grad.numpy().T) < tol
    assert rel_err(layer.grads["b"], b.grad.numpy()) < tol


def test_dense_without_bias_and_init_range():
    layer = Dense(16, 4, bias=False, seed=0)
    assert set(layer.params) == {"W"}
    assert np.abs(layer.params["W"]).max() <= 1 / np.sqrt(16)


def test_dense_refuses_wrong_feature_size_and_dtype():
    layer = Dense(5, 3)
    with pytest.raises(ValueError, match=r"X has shape \(2, 4\), expected \(\?, 5\)"):
        layer(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="X has dtype float64 but the parameters are float32"):
        layer(np.zeros((2, 5)))
    with pytest.raises(RuntimeError, match="backward needs a forward pass first"):
        Dense(5, 3).backward(np.zeros((2, 3), np.float32))
