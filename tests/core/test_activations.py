"""core.activations: derivatives against centered differences, ONNX defaults, stability, errors."""

import warnings

import numpy as np
import pytest

from lstmkit.core.activations import NAMES, Activation, get_activation, sigmoid
from lstmkit.core.gradcheck import kink_distance, kinks, numerical_grad, rel_error

# Non-default parameters, to check the derivatives away from ONNX's defaults too.
CUSTOM = [
    Activation("hard_sigmoid", alpha=0.3, beta=0.4),
    Activation("leaky_relu", alpha=0.1),
    Activation("elu", alpha=0.5),
    Activation("scaled_tanh", alpha=1.7, beta=0.6),
    Activation("affine", alpha=-2.0, beta=0.5),
    Activation("thresholded_relu", alpha=0.5),
]


def points_away_from_kinks(act, margin=1e-3):
    """Test inputs covering both sides of every kink, none within `margin` of one."""
    x = np.linspace(-4.0, 4.0, 57) + 0.0123  # (57,) float64
    x = np.array([v for v in x if kink_distance(act, v) > margin])
    assert kink_distance(act, x) > margin
    return x


@pytest.mark.parametrize("act", [Activation(name) for name in NAMES] + CUSTOM,
                         ids=lambda a: f"{a.name}({a.alpha},{a.beta})")
def test_grad_matches_centered_differences(act):
    x = points_away_from_kinks(act)
    for k in kinks(act):  # both sides of each kink are tested
        assert (x < k).any() and (x > k).any()
    # sum(f(x)) is separable, so its gradient is f'(x) entry by entry
    numerical = numerical_grad(lambda: act(x).sum(), x)
    assert rel_error(act.grad(act(x)), numerical) < 1e-7


def test_onnx_defaults():
    expected = {"sigmoid": (None, None), "tanh": (None, None), "hard_sigmoid": (0.2, 0.5),
                "relu": (None, None), "identity": (None, None), "softsign": (None, None),
                "leaky_relu": (0.01, None), "elu": (1.0, None), "softplus": (None, None),
                "scaled_tanh": (1.0, 1.0), "affine": (1.0, 0.0), "thresholded_relu": (1.0, None)}
    assert set(NAMES) == set(expected)
    for name, (alpha, beta) in expected.items():
        act = Activation(name)
        assert (act.alpha, act.beta) == (alpha, beta), name
    assert Activation("hard_sigmoid") == Activation("hard_sigmoid", alpha=0.2, beta=0.5)


def test_values_at_defaults():
    x = np.array([-3.0, -0.5, 0.25, 0.75, 2.0])
    expected = {
        "sigmoid": 1 / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
        "hard_sigmoid": np.clip(0.2 * x + 0.5, 0, 1),
        "relu": np.maximum(x, 0),
        "identity": x,
        "softsign": x / (1 + np.abs(x)),
        "leaky_relu": np.where(x >= 0, x, 0.01 * x),
        "elu": np.where(x >= 0, x, np.exp(x) - 1),
        "softplus": np.log(1 + np.exp(x)),
        "scaled_tanh": np.tanh(x),
        "affine": x,
        "thresholded_relu": np.where(x > 1.0, x, 0),
    }
    for name in NAMES:
        np.testing.assert_allclose(Activation(name)(x), expected[name], rtol=1e-12, atol=1e-15,
                                   err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_at_extremes(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        y = sigmoid(x)
        y_act = Activation("sigmoid")(x)
        g = Activation("sigmoid").grad(y)
    assert y.dtype == dtype and y_act.dtype == dtype and g.dtype == dtype
    assert y[0] == 0 and y[2] == 0.5 and y[-1] == 1
    assert np.isfinite(y).all() and np.array_equal(y, y_act)
    assert np.array_equal(g[[0, -1]], np.zeros(2, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_relative_accuracy_over_its_whole_range(dtype):
    # SciPy's expit is an independent reference; deep in the left tail the output is tiny
    # and only a relative comparison sees an error there
    from scipy.special import expit

    lo = -87 if dtype == np.float32 else -700  # e^{-x} still finite
    x = np.linspace(lo, 40, 20001).astype(dtype)
    reference = expit(x.astype(np.float64))
    np.testing.assert_allclose(sigmoid(x), reference, rtol=8 * np.finfo(dtype).eps, atol=0)


def test_sigmoid_takes_scalars_zero_d_arrays_and_lists():
    expected = 1 / (1 + np.exp(-0.5))
    assert sigmoid(0.5) == pytest.approx(expected, rel=1e-15)
    assert sigmoid(np.array(0.5, np.float32)) == pytest.approx(expected, rel=1e-6)
    assert sigmoid(np.float32(0.5)).dtype == np.float32
    np.testing.assert_allclose(sigmoid([0.5, -1000.0]), [expected, 0.0], rtol=1e-15)


def test_softplus_stable_at_extremes():
    x = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        y = Activation("softplus")(x)
        g = Activation("softplus").grad(y)
    assert np.array_equal(y, [0.0, 1000.0]) and np.array_equal(g, [0.0, 1.0])


@pytest.mark.parametrize("name", NAMES)
def test_float32_kept(name):
    act = Activation(name)
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    y = act(x)
    assert y.dtype == np.float32 and act.grad(y).dtype == np.float32


def test_unknown_name():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; choose one of: sigmoid"):
        Activation("gelu")
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("Sigmoid")


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
@pytest.mark.parametrize("alpha", [0.0, -0.5, float("nan")])
def test_alpha_must_be_positive(name, alpha):
    with pytest.raises(ValueError, match=rf"activation '{name}' needs alpha > 0"):
        Activation(name, alpha=alpha)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softplus"])
def test_no_alpha_for_parameterless(name):
    with pytest.raises(ValueError, match=rf"activation '{name}' takes no alpha"):
        Activation(name, alpha=0.5)


def test_no_beta_for_alpha_only():
    with pytest.raises(ValueError, match="activation 'leaky_relu' takes no beta"):
        Activation("leaky_relu", beta=0.5)


def test_get_activation():
    act = Activation("elu", alpha=0.5)
    assert get_activation(act) is act
    assert get_activation("tanh") == Activation("tanh")
    with pytest.raises(TypeError, match="an activation is a name or an Activation, got int"):
        get_activation(3)
