import numpy as np
import pytest
import torch

from lstmkit.core.embedding import Embedding


def test_embedding_matches_torch_with_repeated_ids():
    rng = np.random.default_rng(0)
    layer = Embedding(7, 4, dtype=np.float64, seed=0)
    ids = np.array([[1, 3, 1], [6, 0, 1]])
    R = rng.standard_normal((2, 3, 4))
    Y = layer(ids)
    layer.backward(R)

    W = torch.tensor(layer.params["W"], requires_grad=True)
    Yt = torch.nn.functional.embedding(torch.tensor(ids), W)
    (Yt * torch.tensor(R)).sum().backward()
    assert np.array_equal(Y, Yt.detach().numpy())
    assert np.allclose(layer.grads["W"], W.grad.numpy(), rtol=0, atol=1e-14)


def test_embedding_refuses_bad_ids():
    layer = Embedding(7, 4)
    with pytest.raises(ValueError, match=r"token ids must lie in 0..6"):
        layer(np.array([0, 7]))
    with pytest.raises(ValueError, match=r"token ids must lie in 0..6"):
        layer(np.array([-1, 2]))
    with pytest.raises(TypeError, match="token ids must be integers"):
        layer(np.array([0.0, 1.0]))
