"""The GRU cell, beside the LSTM for comparison: one time step forward and backward.

Shapes: batch N, input D, hidden H. Gate order r, z, n (PyTorch's).

    (G1) R_t  = sigma(X_t W_xr + b_xr + H_{t-1} W_hr + b_hr)              reset gate
    (G2) Z_t  = sigma(X_t W_xz + b_xz + H_{t-1} W_hz + b_hz)              update gate
    (G3) H~_t = tanh(X_t W_xn + b_xn + R_t * (H_{t-1} W_hn + b_hn))       candidate state
    (G4) H_t  = (1 - Z_t) * H~_t + Z_t * H_{t-1}                          hidden state

(G3) is PyTorch's form: the reset gate is applied after the hidden matmul, so the hidden
side needs a bias of its own. ONNX's default form (linear_before_reset=False) resets first:

    (G3') H~_t = tanh(X_t W_xn + b_xn + (R_t * H_{t-1}) W_hn + b_hn)

Parameters of one layer and direction: W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,)
(both absent when the layer has no bias); columns are the blocks r, z, n. Initialisation:
U(-1/sqrt(H), 1/sqrt(H)) for every entry, torch.nn.GRU's rule. sigma is the gate
activation, the tanh of (G3) the candidate activation, each any name of core.activations.

The backward equations are derived and numbered (GB1)-(GB9) in docs/derivations.md, with
(GB5'), (GB6'), (GB8'), (GB9') for the form (G3').
"""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from lstmkit.core.activations import Activation, get_activation
from lstmkit.core.sequence import gate_blocks, over_time


class GRUState(NamedTuple):
    """The state carried from step to step."""

    H: np.ndarray  # (N, H) hidden state


class GRUCache(NamedTuple):
    """What one forward step keeps for its backward step."""

    H_prev: np.ndarray  # (N, H)
    R: np.ndarray  # (N, H) reset gate
    Z: np.ndarray  # (N, H) update gate
    H_tilde: np.ndarray  # (N, H) candidate state
    HW_n: np.ndarray | None  # (N, H) H_{t-1} W_hn + b_hn, kept in PyTorch's form
    RH: np.ndarray | None  # (N, H) R_t * H_{t-1}, kept in ONNX's form


@dataclass(frozen=True)
class GRUStep:
    """One GRU time step, forward and backward, as pure functions of params and state."""

    gate_activation: Activation = Activation("sigmoid")
    candidate_activation: Activation = Activation("tanh")
    linear_before_reset: bool = True

    n_gates: ClassVar[int] = 3
    State: ClassVar[type] = GRUState

    def __post_init__(self):
        for name in ("gate_activation", "candidate_activation"):
            try:
                object.__setattr__(self, name, get_activation(getattr(self, name)))
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}: {error}") from None

    def init_params(self, input_size, hidden_size, rng, dtype, bias=True):
        """W_x (D, 3H), W_h (H, 3H), b_x (3H,), b_h (3H,), all from U(-1/sqrt(H), 1/sqrt(H))."""
        D, H = input_size, hidden_size
        k = 1.0 / np.sqrt(H)
        shapes = {"W_x": (D, 3 * H), "W_h": (H, 3 * H)}
        if bias:
            shapes.update(b_x=(3 * H,), b_h=(3 * H,))
        return {name: rng.uniform(-k, k, shape).astype(dtype) for name, shape in shapes.items()}

    def initial_state(self, N, H, dtype) -> GRUState:
        """H_0 = 0."""
        return GRUState(np.zeros((N, H), dtype))

    def input_projection(self, params, X):
        """X W_x + b_x for all steps at once: (..., D) -> (..., 3H)."""
        XW = X @ params["W_x"]
        if "b_x" in params:
            XW += params["b_x"]
        return XW

    def step_forward(self, params, XW_t, state):
        """One step of (G1)-(G4). XW_t = X_t W_x + b_x (N, 3H). Returns (new state, cache)."""
        sigma, act = self.gate_activation, self.candidate_activation
        (H_prev,) = state
        W_h, b_h = params["W_h"], params.get("b_h")
        H = H_prev.shape[1]
        XW_r, XW_z, XW_n = gate_blocks(XW_t, 3)  # (N, H) each
        if self.linear_before_reset:
            HW = H_prev @ W_h  # (N, 3H) all hidden-side products at once
        else:
            HW = H_prev @ W_h[:, : 2 * H]  # (N, 2H) r and z only
        if b_h is not None:
            HW += b_h[: HW.shape[1]]
        R = sigma(XW_r + HW[:, :H])  # (G1)
        Z = sigma(XW_z + HW[:, H : 2 * H])  # (G2)
        HW_n = RH = None
        if self.linear_before_reset:
            HW_n = HW[:, 2 * H :]
            H_tilde = act(XW_n + R * HW_n)  # (G3)
        else:
            RH = R * H_prev
            HW_n_reset = RH @ W_h[:, 2 * H :]  # (N, H)
            if b_h is not None:
                HW_n_reset += b_h[2 * H :]
            H_tilde = act(XW_n + HW_n_reset)  # (G3')
        H_new = (1 - Z) * H_tilde + Z * H_prev  # (G4)
        return GRUState(H_new), GRUCache(H_prev, R, Z, H_tilde, HW_n, RH)

    def step_backward(self, params, dstate, cache):
        """One step of BPTT, (GB1)-(GB8) and (GB5'), (GB6'), (GB8') of docs/derivations.md.

        dstate = (dH_t,): the whole gradient reaching the new state. Returns
        (dXW (N, 3H), dHW (N, 3H), (dH_{t-1},)): the gradients of the input-side and
        hidden-side pre-activations (they differ in the n block) and of the previous state.
        """
        sigma, act = self.gate_activation, self.candidate_activation
        (dH,) = dstate
        c = cache
        W_h = params["W_h"]
        H = c.R.shape[1]
        dXW = np.empty((dH.shape[0], 3 * H), dH.dtype)  # (N, 3H)
        dXW_r, dXW_z, dXW_n = gate_blocks(dXW, 3)  # views, (N, H) each
        dH_tilde = dH * (1 - c.Z)  # (GB1)
        dZ = dH * (c.H_prev - c.H_tilde)  # (GB2)
        dH_prev = dH * c.Z  # (GB3)
        dXW_n[:] = dH_tilde * act.grad(c.H_tilde)  # (GB4)
        dHW = dXW.copy()  # n block: dHW_n = dA_n, (GB6'); (GB6) rescales it in (G3)
        if self.linear_before_reset:
            dR = dXW_n * c.HW_n  # (GB5)
            dHW[:, 2 * H :] = dXW_n * c.R  # (GB6)
        else:
            dRH = (W_h[:, 2 * H :] @ dXW_n.T).T  # (GB5') (N, H)
            dR = dRH * c.H_prev  # (GB5')
            dH_prev += dRH * c.R  # (GB6')
        dXW_r[:] = dR * sigma.grad(c.R)  # (GB7)
        dXW_z[:] = dZ * sigma.grad(c.Z)  # (GB7)
        dHW[:, : 2 * H] = dXW[:, : 2 * H]  # (GB7) r and z: the hidden side shares dA
        if self.linear_before_reset:
            dH_prev += (W_h @ dHW.T).T  # (GB8) dHW W_h^T (N, H), transposed as (B10) of the LSTM
        else:
            dH_prev += (W_h[:, : 2 * H] @ dHW[:, : 2 * H].T).T  # (GB8')
        return dXW, dHW, GRUState(dH_prev)

    def weight_grads(self, params, X, caches, dXW, dHW):
        """After the backward loop: dW_x, dW_h, db_x, db_h, dX: (GB9), (GB9'), a GEMM or sum each.

        X (T, N, D) the layer input, caches the T step caches in time order (or stacked,
        see core.sequence.over_time), dXW and dHW
        (T, N, 3H). Returns (dX (T, N, D), grads).
        """
        T, N, D = X.shape
        dXW2, dHW2 = dXW.reshape(T * N, -1), dHW.reshape(T * N, -1)  # (TN, 3H)
        H_prev = over_time(caches, "H_prev").reshape(T * N, -1)  # (TN, H)
        grads = {"W_x": X.reshape(T * N, D).T @ dXW2}  # (GB9)
        if self.linear_before_reset:
            grads["W_h"] = H_prev.T @ dHW2  # (GB9)
        else:
            H = H_prev.shape[1]
            RH = over_time(caches, "RH").reshape(T * N, H)
            grads["W_h"] = np.hstack([H_prev.T @ dHW2[:, : 2 * H],  # (GB9) r, z
                                      RH.T @ dHW2[:, 2 * H :]])  # (GB9') n
        if "b_x" in params:
            grads["b_x"] = dXW2.sum(axis=0)  # (GB9)
            grads["b_h"] = dHW2.sum(axis=0)  # (GB9)
        dX = (dXW2 @ params["W_x"].T).reshape(T, N, D)  # (GB9) one GEMM over all steps
        return dX, grads
