"""The dense (fully connected) layer: Y = X W + b.

Shapes: X (..., D_in), W (D_in, D_out) (the same orientation as the LSTM's W_x), b (D_out,).
Initialisation: W and b from U(-1/sqrt(D_in), 1/sqrt(D_in)), torch.nn.Linear's rule.
"""

import numpy as np

from lstmkit.core.checks import check_array


def dense_forward(params, X):
    """Y = X W + b: (..., D_in) -> (..., D_out)."""
    Y = X @ params["W"]
    if "b" in params:
        Y += params["b"]
    return Y


def dense_backward(params, X, dY):
    """dX = dY W^T, dW = X^T dY, db = sum dY over all leading axes. Returns (dX, grads)."""
    X2, dY2 = X.reshape(-1, X.shape[-1]), dY.reshape(-1, dY.shape[-1])
    grads = {"W": X2.T @ dY2}
    if "b" in params:
        grads["b"] = dY2.sum(axis=0)
    return dY @ params["W"].T, grads


class Dense:
    """A dense layer holding params, grads and the input of its last forward."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, seed=None):
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(in_features)
        self.in_features, self.out_features, self.dtype = in_features, out_features, np.dtype(dtype)
        self.params = {"W": rng.uniform(-k, k, (in_features, out_features)).astype(dtype)}
        if bias:
            self.params["b"] = rng.uniform(-k, k, out_features).astype(dtype)
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._X = None

    def forward(self, X):
        """Y = X W + b for X (..., in_features)."""
        X = np.asarray(X)
        shape = (None,) * (X.ndim - 1) + (self.in_features,)
        X = check_array("X", X, dtype=self.dtype, shape=shape)
        self._X = X
        return dense_forward(self.params, X)

    __call__ = forward

    def backward(self, dY):
        """dX for the last forward; sets self.grads."""
        if self._X is None:
            raise RuntimeError("backward needs a forward pass first")
        dX, self.grads = dense_backward(self.params, self._X, dY)
        return dX
