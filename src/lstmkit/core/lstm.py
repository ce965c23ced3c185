"""The LSTM cell: equations (1)-(6) of the article, one time step forward and backward.

Shapes: batch N, input D, hidden H. Gate order i, f, g (candidate C~), o.

    (1) I_t  = sigma(X_t W_xi + H_{t-1} W_hi + b_i)        input gate
    (2) F_t  = sigma(X_t W_xf + H_{t-1} W_hf + b_f)        forget gate
    (3) O_t  = sigma(X_t W_xo + H_{t-1} W_ho + b_o)        output gate
    (4) C~_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)         candidate memory cell
    (5) C_t  = F_t * C_{t-1} + I_t * C~_t                  memory cell
    (6) H_t  = O_t * tanh(C_t)                             hidden state

Parameters of one layer and direction: W_x (D, 4H), W_h (H, 4H), b (4H,) (absent when the
layer has no bias), and with peepholes P (3, H), rows i, f, o. Columns of W_x, W_h and b
are the gate blocks in the order i, f, g, o.

Initialisation (init_params): every entry from U(-1/sqrt(H), 1/sqrt(H)), torch.nn.LSTM's
rule (same distribution, not the same numbers); optionally the forget-gate bias b_f set
to a constant (1.0 in Keras and Jozefowicz et al., 2015).

Variants, each off by default, all with ONNX semantics (onnx.ai, operator LSTM):
- peephole: Z_i += P_i * C_{t-1}, Z_f += P_f * C_{t-1}, Z_o += P_o * C_t;
- coupled input and forget gate: F_t = 1 - I_t (the f blocks of W_x, W_h, b stay in the
  layout, as in ONNX's input_forget, and receive zero gradient);
- clip: every gate pre-activation (after the peephole term) is clipped to [-clip, clip];
- the activations: sigma is the gate activation, the tanh of (4) the candidate activation
  and the tanh of (6) the cell activation, each any name of core.activations.

The backward equations are derived and numbered in docs/derivations.md: (B1)-(B10) with
(B3p), (B7p), (B8c) in step_backward, (B11)-(B14) in weight_grads.
"""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from lstmkit.core.activations import Activation, get_activation
from lstmkit.core.sequence import gate_blocks, over_time


class LSTMState(NamedTuple):
    """The state carried from step to step."""

    H: np.ndarray  # (N, H) hidden state
    C: np.ndarray  # (N, H) memory cell


class LSTMCache(NamedTuple):
    """What one forward step keeps for its backward step."""

    H_prev: np.ndarray  # (N, H)
    C_prev: np.ndarray  # (N, H)
    I: np.ndarray  # (N, H) input gate
    F: np.ndarray  # (N, H) forget gate
    C_tilde: np.ndarray  # (N, H) candidate memory cell
    O: np.ndarray  # (N, H) output gate
    C: np.ndarray  # (N, H) memory cell
    A_C: np.ndarray  # (N, H) cell activation tanh(C)
    unclipped: np.ndarray | None  # (N, 4H) bool, where the clip let the gradient through


@dataclass(frozen=True)
class LSTMStep:
    """One LSTM time step, forward and backward, as pure functions of params and state."""

    gate_activation: Activation = Activation("sigmoid")
    candidate_activation: Activation = Activation("tanh")
    cell_activation: Activation = Activation("tanh")
    peephole: bool = False
    coupled: bool = False
    clip: float | None = None

    n_gates: ClassVar[int] = 4
    State: ClassVar[type] = LSTMState

    def __post_init__(self):
        for name in ("gate_activation", "candidate_activation", "cell_activation"):
            try:
                object.__setattr__(self, name, get_activation(getattr(self, name)))
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}: {error}") from None
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be a positive number or None, got {self.clip}")

    def init_params(self, input_size, hidden_size, rng, dtype, bias=True, forget_bias=None):
        """W_x (D, 4H), W_h (H, 4H), b (4H,), P (3, H), all from U(-1/sqrt(H), 1/sqrt(H))."""
        D, H = input_size, hidden_size
        k = 1.0 / np.sqrt(H)
        shapes = {"W_x": (D, 4 * H), "W_h": (H, 4 * H)}
        if bias:
            shapes["b"] = (4 * H,)
        if self.peephole:
            shapes["P"] = (3, H)
        params = {name: rng.uniform(-k, k, shape).astype(dtype) for name, shape in shapes.items()}
        if forget_bias is not None:
            if not bias:
                raise ValueError("forget_bias needs bias=True")
            params["b"][H : 2 * H] = forget_bias
        return params

    def initial_state(self, N, H, dtype) -> LSTMState:
        """H_0 = C_0 = 0."""
        return LSTMState(np.zeros((N, H), dtype), np.zeros((N, H), dtype))

    def input_projection(self, params, X):
        """X W_x + b for all steps at once: (..., D) -> (..., 4H)."""
        XW = X @ params["W_x"]
        if "b" in params:
            XW += params["b"]
        return XW

    def _clip(self, Z):
        """Clip Z in place to [-clip, clip]; return where the gradient passes (None: no clip)."""
        if self.clip is None:
            return None
        unclipped = np.abs(Z) < self.clip
        np.clip(Z, -self.clip, self.clip, out=Z)
        return unclipped

    def step_forward(self, params, XW_t, state):
        """One step of (1)-(6). XW_t = X_t W_x + b (N, 4H). Returns (new state, cache)."""
        sigma, act_g, act_c = self.gate_activation, self.candidate_activation, self.cell_activation
        H_prev, C_prev = state
        Z = XW_t + H_prev @ params["W_h"]  # (N, 4H) all pre-activations at once
        Z_i, Z_f, Z_g, Z_o = gate_blocks(Z, 4)  # views into Z, (N, H) each
        if self.peephole:
            P_i, P_f, P_o = params["P"]
            Z_i += P_i * C_prev  # (1) peephole term
            Z_f += P_f * C_prev  # (2) peephole term
        unclipped_ifg = self._clip(Z[:, : 3 * Z_i.shape[1]])  # (1), (2), (4) clip
        I = sigma(Z_i)  # (1)
        F = 1 - I if self.coupled else sigma(Z_f)  # (2)
        C_tilde = act_g(Z_g)  # (4)
        C = F * C_prev + I * C_tilde  # (5)
        if self.peephole:
            Z_o += P_o * C  # (3) peephole term
        unclipped_o = self._clip(Z_o)  # (3) clip
        O = sigma(Z_o)  # (3)
        A_C = act_c(C)  # (6)
        H = O * A_C  # (6)
        unclipped = None if self.clip is None else np.hstack([unclipped_ifg, unclipped_o])
        return LSTMState(H, C), LSTMCache(H_prev, C_prev, I, F, C_tilde, O, C, A_C, unclipped)

    def step_backward(self, params, dstate, cache):
        """One step of BPTT, (B1)-(B10) of docs/derivations.md.

        dstate = (dH_t, dC_t): the whole gradient reaching the new state (from the output
        at step t and from step t+1). Returns (dZ, dZ, (dH_{t-1}, dC_{t-1})): the gradient
        of the pre-activations Z (N, 4H), twice because the input side and the hidden side
        share Z, and the gradient reaching the previous state.
        """
        sigma, act_g, act_c = self.gate_activation, self.candidate_activation, self.cell_activation
        dH, dC_next = dstate
        c = cache
        H = c.I.shape[1]
        dZ = np.empty((dH.shape[0], 4 * H), dH.dtype)  # (N, 4H)
        dZ_i, dZ_f, dZ_g, dZ_o = gate_blocks(dZ, 4)  # views into dZ, (N, H) each
        dO = dH * c.A_C  # (B1)
        dC = dC_next + dH * c.O * act_c.grad(c.A_C)  # (B2)
        dZ_o[:] = dO * sigma.grad(c.O)  # (B3)
        if c.unclipped is not None:
            dZ_o *= c.unclipped[:, 3 * H :]  # (B3) clip
        if self.peephole:
            P_i, P_f, P_o = params["P"]
            dC += dZ_o * P_o  # (B3p)
        dF = dC * c.C_prev  # (B4)
        dI = dC * c.C_tilde  # (B5)
        dC_tilde = dC * c.I  # (B6)
        dC_prev = dC * c.F  # (B7)
        if self.coupled:
            dZ_i[:] = (dI - dF) * sigma.grad(c.I)  # (B8c) F = 1 - I
            dZ_f[:] = 0  # (B8c)
        else:
            dZ_i[:] = dI * sigma.grad(c.I)  # (B8)
            dZ_f[:] = dF * sigma.grad(c.F)  # (B8)
        dZ_g[:] = dC_tilde * act_g.grad(c.C_tilde)  # (B9)
        if c.unclipped is not None:
            dZ[:, : 3 * H] *= c.unclipped[:, : 3 * H]  # (B8), (B9) clip
        if self.peephole:
            dC_prev += dZ_i * P_i + dZ_f * P_f  # (B7p)
        # (B10) dZ W_h^T, computed as (W_h dZ^T)^T: OpenBLAS multiplies by W_h as stored
        # 1.3-1.7x faster than by its transposed view (a step, 2 threads: charlm 186 -> 110 us)
        dH_prev = (params["W_h"] @ dZ.T).T  # (B10) (N, H)
        return dZ, dZ, LSTMState(dH_prev, dC_prev)

    def weight_grads(self, params, X, caches, dZ_x, dZ_h):
        """After the backward loop: dW_x, dW_h, db, dP and dX, (B11)-(B14), one GEMM or sum each.

        X (T, N, D) the layer input, caches the T step caches in time order (or stacked,
        see core.sequence.over_time), dZ_x = dZ_h
        (T, N, 4H) the gradients of the pre-activations. Returns (dX (T, N, D), grads).
        """
        T, N, D = X.shape
        dZ = dZ_x.reshape(T * N, -1)  # (TN, 4H)
        H_prev = over_time(caches, "H_prev").reshape(T * N, -1)  # (TN, H)
        grads = {"W_x": X.reshape(T * N, D).T @ dZ, "W_h": H_prev.T @ dZ}  # (B11)
        if "b" in params:
            grads["b"] = dZ.sum(axis=0)  # (B12)
        if self.peephole:
            H = H_prev.shape[1]
            C_prev = over_time(caches, "C_prev").reshape(T * N, H)
            C = over_time(caches, "C").reshape(T * N, H)
            grads["P"] = np.stack([
                (dZ[:, :H] * C_prev).sum(axis=0),  # (B13) dP_i
                (dZ[:, H : 2 * H] * C_prev).sum(axis=0),  # (B13) dP_f
                (dZ[:, 3 * H :] * C).sum(axis=0),  # (B13) dP_o
            ])
        dX = (dZ @ params["W_x"].T).reshape(T, N, D)  # (B14) one GEMM over all steps
        return dX, grads
