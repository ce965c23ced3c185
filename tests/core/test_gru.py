"""core.gru: one cell step, step_backward + weight_grads against centered differences (float64).

The loss is a random projection of the new state, L = sum(R_H * H_t), so dH_t = R_H. Every
parameter, X_t and H_{t-1} is checked, in both forms of the candidate: (G3), torch's reset
after the hidden matmul (linear_before_reset=True), and (G3'), ONNX's default.
"""

import numpy as np
import pytest

from lstmkit.core.activations import NAMES, Activation
from lstmkit.core.gradcheck import check_grads, kink_distance, kinks
from lstmkit.core.gru import GRUState, GRUStep

N, D, H = 3, 4, 5  # all distinct, so a transposed or misplaced axis cannot pass
TOL = 1e-7
MARGIN = 1e-3  # test points at least this far from the kinks of piecewise activations
FORMS = pytest.mark.parametrize("linear_before_reset", [True, False], ids=["G3", "G3'"])


def make_point(step, seed, bias=True):
    """Random float64 params (the cell's own shapes), X_t, state H_{t-1} and projection R_H."""
    rng = np.random.default_rng(seed)
    shapes = step.init_params(D, H, rng, np.float64, bias=bias)
    params = {name: rng.normal(0, 0.5, A.shape) for name, A in shapes.items()}
    X = rng.normal(0, 1, (N, D))
    return params, X, GRUState(rng.normal(0, 1, (N, H))), GRUState(rng.normal(0, 1, (N, H)))


def loss(step, params, X, state, R):
    new, _ = step.step_forward(params, step.input_projection(params, X), state)
    return float(np.sum(R.H * new.H))


def analytic_grads(step, params, X, state, R):
    """The gradients from step_backward and weight_grads, keyed like the checked arrays."""
    _, cache = step.step_forward(params, step.input_projection(params, X), state)
    dXW, dHW, dprev = step.step_backward(params, R, cache)
    dX, grads = step.weight_grads(params, X[None], [cache], dXW[None], dHW[None])
    return {**grads, "X": dX[0], "H_prev": dprev.H}


def pre_activations(step, params, X, state):
    """The inputs of the gate activation (r, z blocks) and of the candidate activation (n)."""
    XW = step.input_projection(params, X)  # (N, 3H)
    _, cache = step.step_forward(params, XW, state)
    W_h, b_h = params["W_h"], params.get("b_h", np.zeros(3 * H))
    HW = state.H @ W_h + b_h  # (N, 3H)
    A_r, A_z = XW[:, :H] + HW[:, :H], XW[:, H : 2 * H] + HW[:, H : 2 * H]
    if step.linear_before_reset:
        A_n = XW[:, 2 * H :] + cache.R * HW[:, 2 * H :]  # (G3)
    else:
        A_n = XW[:, 2 * H :] + (cache.R * state.H) @ W_h[:, 2 * H :] + b_h[2 * H :]  # (G3')
    return {"gate_activation": np.concatenate([A_r, A_z]), "candidate_activation": A_n}


def grad_errors(step, params, X, state, R):
    """{name: relative error} of every gradient, analytic against centered differences."""
    arrays = {**params, "X": X, "H_prev": state.H}
    return check_grads(lambda: loss(step, params, X, state, R), arrays,
                       analytic_grads(step, params, X, state, R))


def assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e}"


@FORMS
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_step_gradients(linear_before_reset, bias):
    step = GRUStep(linear_before_reset=linear_before_reset)
    assert_small(grad_errors(step, *make_point(step, 0, bias=bias)))


@FORMS
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("slot", ["gate_activation", "candidate_activation"])
def test_step_gradients_activation(slot, name, linear_before_reset):
    step = GRUStep(linear_before_reset=linear_before_reset, **{slot: Activation(name)})
    act = getattr(step, slot)
    for seed in range(200):  # the first test point away from the kinks, with both sides hit
        point = make_point(step, seed)
        inputs = pre_activations(step, *point[:3])[slot]
        if kink_distance(act, inputs) > MARGIN and all(
                (inputs < k).any() and (inputs > k).any() for k in kinks(act)):
            break
    else:
        raise AssertionError("no seed gave a valid test point")
    assert_small(grad_errors(step, *point))


def test_forms_differ():
    """The two forms are different functions (unless R = 1), so each check above is its own."""
    params, X, state, _ = make_point(GRUStep(), 0)
    outputs = [GRUStep(linear_before_reset=f).step_forward(params, X @ params["W_x"], state)[0].H
               for f in (True, False)]
    assert not np.allclose(*outputs)
