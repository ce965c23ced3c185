"""Losses, each returning the loss and its gradient with respect to the prediction.

    softmax cross-entropy  L = -(1/M) sum_m log softmax(S_m)[y_m]  dS = (softmax(S) - onehot(y)) / M
    mean squared error     L = (1/K) sum_k (Y_k - T_k)^2           dY = 2 (Y - T) / K
    mean absolute error    L = (1/K) sum_k |Y_k - T_k|             dY = sign(Y - T) / K

M is the number of scored items (rows of S), K the number of entries of Y.
"""

import numpy as np


def log_softmax(S):
    """log softmax over the last axis, stable for any logits: S - max - log sum exp(S - max)."""
    shifted = S - S.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(S, y):
    """Mean cross-entropy of logits S (..., C) against integer classes y (...). Returns (L, dS)."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"class labels must be integers, got dtype {y.dtype}")
    if y.shape != S.shape[:-1]:
        raise ValueError(f"labels have shape {y.shape}, expected {S.shape[:-1]} (the logits' "
                         "shape without the class axis)")
    C = S.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= C):
        raise ValueError(f"labels must lie in 0..{C - 1} ({C} classes), got {y.min()}..{y.max()}")
    S2, y2 = S.reshape(-1, C), y.reshape(-1)
    M = y2.size
    log_p = log_softmax(S2)  # (M, C)
    loss = -log_p[np.arange(M), y2].mean()
    dS = np.exp(log_p)
    dS[np.arange(M), y2] -= 1
    dS /= M
    return loss, dS.reshape(S.shape)


def mse(Y, T):
    """Mean squared error of Y against targets T (same shape). Returns (L, dY)."""
    T = np.asarray(T)
    if T.shape != Y.shape:
        raise ValueError(f"targets have shape {T.shape}, expected {Y.shape} (the predictions')")
    diff = Y - T.astype(Y.dtype, copy=False)
    return np.mean(diff * diff), 2 * diff / diff.size


def mae(Y, T):
    """Mean absolute error of Y against targets T (same shape). Returns (L, dY).

    The gradient at Y = T is taken as 0 (the subgradient Keras and PyTorch use).
    """
    T = np.asarray(T)
    if T.shape != Y.shape:
        raise ValueError(f"targets have shape {T.shape}, expected {Y.shape} (the predictions')")
    diff = Y - T.astype(Y.dtype, copy=False)
    return np.mean(np.abs(diff)), np.sign(diff) / diff.size
