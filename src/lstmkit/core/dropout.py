"""Inverted dropout: zero each unit with probability p, scale the rest by 1 / (1 - p).

Used between recurrent layers in train mode only, as torch.nn.LSTM's dropout argument.
"""

def dropout_forward(X, p, rng):
    """Y = X * M, M = [U >= p] / (1 - p), U ~ U(0, 1). Returns (Y, M), M kept for backward."""
    M = (rng.random(X.shape) >= p).astype(X.dtype) / X.dtype.type(1 - p)
    return X * M, M


def dropout_backward(dY, M):
    """dX = dY * M."""
    return dY * M
