"""core.lstm: one cell step, step_backward + weight_grads against centered differences (float64).

The loss is a random projection of the new state, L = sum(R_H * H_t) + sum(R_C * C_t), so
its gradient reaching the state is (dH_t, dC_t) = (R_H, R_C). Every parameter, X_t, H_{t-1}
and C_{t-1} is checked.
"""

import numpy as np
import pytest

from lstmkit.core.activations import NAMES, Activation
from lstmkit.core.gradcheck import check_grads, kink_distance, kinks
from lstmkit.core.lstm import LSTMState, LSTMStep

N, D, H = 3, 4, 5  # all distinct, so a transposed or misplaced axis cannot pass
TOL = 1e-7
MARGIN = 1e-3  # test points at least this far from kinks and from the clip bound


def make_point(step, seed):
    """Random float64 params (the cell's own shapes), X_t, state and projection (R_H, R_C)."""
    rng = np.random.default_rng(seed)
    shapes = step.init_params(D, H, rng, np.float64)
    params = {name: rng.normal(0, 0.5, A.shape) for name, A in shapes.items()}
    X = rng.normal(0, 1, (N, D))
    state = LSTMState(rng.normal(0, 1, (N, H)), rng.normal(0, 2, (N, H)))
    R = LSTMState(rng.normal(0, 1, (N, H)), rng.normal(0, 1, (N, H)))
    return params, X, state, R


def loss(step, params, X, state, R):
    new, _ = step.step_forward(params, step.input_projection(params, X), state)
    return float(np.sum(R.H * new.H) + np.sum(R.C * new.C))


def analytic_grads(step, params, X, state, R):
    """The gradients from step_backward and weight_grads, keyed like the checked arrays."""
    _, cache = step.step_forward(params, step.input_projection(params, X), state)
    dZ_x, dZ_h, dprev = step.step_backward(params, R, cache)
    dX, grads = step.weight_grads(params, X[None], [cache], dZ_x[None], dZ_h[None])
    return {**grads, "X": dX[0], "H_prev": dprev.H, "C_prev": dprev.C}


def pre_activations(step, params, X, state):
    """Each gate's input before clipping (Z_i, Z_f, Z_g, Z_o) and the cell C_t, by name."""
    Z = step.input_projection(params, X) + state.H @ params["W_h"]  # (N, 4H)
    Z_i, Z_f, Z_g, Z_o = (A.copy() for A in np.split(Z, 4, axis=1))
    new, _ = step.step_forward(params, step.input_projection(params, X), state)
    if step.peephole:
        P_i, P_f, P_o = params["P"]
        Z_i += P_i * state.C
        Z_f += P_f * state.C
        Z_o += P_o * new.C
    return {"i": Z_i, "f": Z_f, "g": Z_g, "o": Z_o, "C": new.C}


def grad_errors(step, params, X, state, R):
    """{name: relative error} of every gradient, analytic against centered differences."""
    arrays = {**params, "X": X, "H_prev": state.H, "C_prev": state.C}
    return check_grads(lambda: loss(step, params, X, state, R), arrays,
                       analytic_grads(step, params, X, state, R))


def first_point(step, ok):
    """make_point for the first seed whose test point satisfies ok(params, X, state)."""
    for seed in range(200):
        point = make_point(step, seed)
        if ok(*point[:3]):
            return point
    raise AssertionError("no seed gave a valid test point")


def assert_small(errors):
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e}"


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"coupled": True},
                                     {"peephole": True, "coupled": True}],
                         ids=["base", "peephole", "coupled", "peephole-coupled"])
def test_step_gradients(options):
    step = LSTMStep(**options)
    assert_small(grad_errors(step, *make_point(step, 0)))


def clip_ok(step, blocks):
    """A test point where each gate block has clipped and unclipped entries, none near the bound."""
    def ok(params, X, state):
        Z = pre_activations(step, params, X, state)
        for name in blocks:
            distance = np.abs(Z[name]) - step.clip
            if not ((distance > MARGIN).any() and (distance < -MARGIN).any()
                    and (np.abs(distance) > MARGIN).all()):
                return False
        return True
    return ok


@pytest.mark.parametrize("options", [{}, {"peephole": True, "coupled": True}],
                         ids=["clip", "clip-peephole-coupled"])
def test_step_gradients_clip(options):
    step = LSTMStep(clip=1.0, **options)
    blocks = "igo" if step.coupled else "ifgo"  # F = 1 - I ignores Z_f
    point = first_point(step, clip_ok(step, blocks))
    params, X, state, _ = point
    _, cache = step.step_forward(params, step.input_projection(params, X), state)
    assert not cache.unclipped.all() and cache.unclipped.any()  # the clip path is exercised
    assert_small(grad_errors(step, *point))


SLOT_INPUTS = {"gate_activation": "ifo", "candidate_activation": "g", "cell_activation": "C"}


def kink_ok(step, slot):
    """A test point away from the kinks of the slot's activation, with entries on both sides."""
    act = getattr(step, slot)

    def ok(params, X, state):
        Z = pre_activations(step, params, X, state)
        inputs = np.concatenate([Z[name].ravel() for name in SLOT_INPUTS[slot]])
        return kink_distance(act, inputs) > MARGIN and all(
            (inputs < k).any() and (inputs > k).any() for k in kinks(act))
    return ok


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("slot", list(SLOT_INPUTS))
def test_step_gradients_activation(slot, name):
    step = LSTMStep(**{slot: Activation(name)})
    assert_small(grad_errors(step, *first_point(step, kink_ok(step, slot))))


def test_coupled_forget_block_gets_zero_gradient():
    step = LSTMStep(peephole=True, coupled=True)
    grads = analytic_grads(step, *make_point(step, 1))
    assert not grads["W_x"][:, H : 2 * H].any() and not grads["W_h"][:, H : 2 * H].any()
    assert not grads["b"][H : 2 * H].any() and not grads["P"][1].any()


def test_clip_must_be_positive():
    with pytest.raises(ValueError, match="clip must be a positive number or None, got 0"):
        LSTMStep(clip=0)
