"""Parameter layouts of other frameworks: the one place in lstmkit that knows them.

Each function converts the parameters of one layer and one direction, as a dict of NumPy
arrays, between lstmkit's names and layout and PyTorch's. Pure NumPy: no torch import.

lstmkit (core.lstm, core.gru), G gate blocks of H columns each:

    W_x (D, G*H)    W_h (H, G*H)    LSTM: b (4H,)    GRU: b_x (3H,), b_h (3H,)

PyTorch (torch.nn.LSTM / GRU / LSTMCell / GRUCell, suffix _l{k} / _l{k}_reverse dropped):

    weight_ih (G*H, D)    weight_hh (G*H, H)    bias_ih (G*H,)    bias_hh (G*H,)

The gate blocks are in the same order on both sides: LSTM i, f, g, o (G = 4), GRU r, z, n
(G = 3), so a weight is a transpose and nothing else. Biases are absent on both sides when
the layer has no bias.

The LSTM bias: torch adds bias_ih and bias_hh to the same pre-activations, so lstmkit keeps
their sum b = bias_ih + bias_hh. Going back, b goes to bias_ih and bias_hh is 0: the round
trip keeps the sum exactly, which is all the LSTM computes with, but not the split. The GRU
keeps both biases (bias_hh sits inside the reset product of the n block), losslessly.
"""

import numpy as np


def _hidden_size(w_x, w_h, n_gates, given):
    """H, after checking that W_x (D, G*H) and W_h (H, G*H), lstmkit's orientation, fit."""
    h = w_h.shape[0] if w_h.ndim == 2 else 0
    if not (w_x.ndim == 2 and w_h.shape == (h, n_gates * h) and w_x.shape[1] == n_gates * h
            and h > 0):
        raise ValueError(f"{given} do not fit together: expected (D, {n_gates}H) and "
                         f"(H, {n_gates}H) in lstmkit's layout, ({n_gates}H, D) and "
                         f"({n_gates}H, H) in torch's")
    return h


def _biases(params, names, size):
    """The two biases named `names`, each checked to be (size,); None when both are absent."""
    present = [name in params for name in names]
    if not any(present):
        return None
    if not all(present):
        raise ValueError(f"give both {names[0]} and {names[1]}, or neither")
    biases = [np.array(params[name]) for name in names]  # copies
    for name, b in zip(names, biases, strict=True):
        if b.shape != (size,):
            raise ValueError(f"{name} has shape {b.shape}, expected ({size},)")
    return biases


def _transposed(w):
    """w^T as a C-contiguous copy (never a view, even where w^T is contiguous already)."""
    return np.array(np.asarray(w).T, order="C")


def _weights_from_torch(params, n_gates):
    w_x, w_h = _transposed(params["weight_ih"]), _transposed(params["weight_hh"])
    given = f"weight_ih {w_x.T.shape} and weight_hh {w_h.T.shape}"
    return w_x, w_h, _hidden_size(w_x, w_h, n_gates, given)


def _weights_to_torch(params, n_gates):
    w_x, w_h = np.asarray(params["W_x"]), np.asarray(params["W_h"])
    h = _hidden_size(w_x, w_h, n_gates, f"W_x {w_x.shape} and W_h {w_h.shape}")
    return _transposed(w_x), _transposed(w_h), h


def lstm_from_torch(params):
    """torch {weight_ih, weight_hh[, bias_ih, bias_hh]} -> lstmkit {W_x, W_h[, b]}.

    W_x = weight_ih^T (D, 4H), W_h = weight_hh^T (H, 4H), b = bias_ih + bias_hh (4H,).
    """
    w_x, w_h, h = _weights_from_torch(params, 4)
    out = {"W_x": w_x, "W_h": w_h}
    biases = _biases(params, ("bias_ih", "bias_hh"), 4 * h)
    if biases is not None:
        out["b"] = biases[0] + biases[1]
    return out


def lstm_to_torch(params):
    """lstmkit {W_x, W_h[, b]} -> torch {weight_ih, weight_hh[, bias_ih, bias_hh]}.

    weight_ih = W_x^T (4H, D), weight_hh = W_h^T (4H, H), bias_ih = b, bias_hh = 0: the sum
    of the two biases is b, their split is not kept (see the module docstring). Also maps
    gradients: db goes to bias_ih, which is torch's gradient of bias_ih and of bias_hh alike.
    """
    weight_ih, weight_hh, h = _weights_to_torch(params, 4)
    out = {"weight_ih": weight_ih, "weight_hh": weight_hh}
    if "b" in params:
        b = np.array(params["b"])  # a copy
        if b.shape != (4 * h,):
            raise ValueError(f"b has shape {b.shape}, expected ({4 * h},)")
        out["bias_ih"], out["bias_hh"] = b, np.zeros_like(b)
    return out


def gru_from_torch(params):
    """torch {weight_ih, weight_hh[, bias_ih, bias_hh]} -> lstmkit {W_x, W_h[, b_x, b_h]}.

    W_x = weight_ih^T (D, 3H), W_h = weight_hh^T (H, 3H), b_x = bias_ih, b_h = bias_hh (3H,).
    """
    w_x, w_h, h = _weights_from_torch(params, 3)
    out = {"W_x": w_x, "W_h": w_h}
    biases = _biases(params, ("bias_ih", "bias_hh"), 3 * h)
    if biases is not None:
        out["b_x"], out["b_h"] = biases
    return out


def gru_to_torch(params):
    """lstmkit {W_x, W_h[, b_x, b_h]} -> torch {weight_ih, weight_hh[, bias_ih, bias_hh]}.

    weight_ih = W_x^T (3H, D), weight_hh = W_h^T (3H, H), bias_ih = b_x, bias_hh = b_h.
    """
    weight_ih, weight_hh, h = _weights_to_torch(params, 3)
    out = {"weight_ih": weight_ih, "weight_hh": weight_hh}
    biases = _biases(params, ("b_x", "b_h"), 3 * h)
    if biases is not None:
        out["bias_ih"], out["bias_hh"] = biases
    return out
