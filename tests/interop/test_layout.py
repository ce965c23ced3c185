"""interop.layout: lstmkit <-> PyTorch parameter layouts, checked with NumPy alone."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit.interop import layout

D, H = 4, 5  # distinct sizes: a transpose mix-up changes a shape


def torch_params(rng, n_gates, bias=True, dtype=np.float64):
    """One layer-direction's parameters in torch's layout, random."""
    params = {"weight_ih": rng.standard_normal((n_gates * H, D)),
              "weight_hh": rng.standard_normal((n_gates * H, H))}
    if bias:
        params["bias_ih"] = rng.standard_normal(n_gates * H)
        params["bias_hh"] = rng.standard_normal(n_gates * H)
    return {name: value.astype(dtype) for name, value in params.items()}


def torch_pre_activations(params, x, h):
    """x W_ih^T + b_ih and h W_hh^T + b_hh as torch computes them (G*H columns each)."""
    xw = x @ params["weight_ih"].T + params.get("bias_ih", 0)
    hw = h @ params["weight_hh"].T + params.get("bias_hh", 0)
    return xw, hw


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_from_torch_computes_the_same_pre_activations(bias):
    rng = np.random.default_rng(0)
    params = torch_params(rng, 4, bias)
    x, h = rng.standard_normal((3, D)), rng.standard_normal((3, H))
    ours = layout.lstm_from_torch(params)
    assert ours["W_x"].shape == (D, 4 * H) and ours["W_h"].shape == (H, 4 * H)
    assert ("b" in ours) == bias
    xw, hw = torch_pre_activations(params, x, h)
    Z = x @ ours["W_x"] + h @ ours["W_h"] + ours.get("b", 0)
    np.testing.assert_allclose(Z, xw + hw, rtol=1e-13, atol=1e-13)
    # the gate blocks stay in place: torch's rows of block i, f, g, o are our columns
    for k in range(4):
        np.testing.assert_array_equal(ours["W_x"][:, k * H:(k + 1) * H],
                                      params["weight_ih"][k * H:(k + 1) * H].T)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_from_torch_keeps_both_biases(bias):
    rng = np.random.default_rng(1)
    params = torch_params(rng, 3, bias)
    ours = layout.gru_from_torch(params)
    assert ours["W_x"].shape == (D, 3 * H) and ours["W_h"].shape == (H, 3 * H)
    np.testing.assert_array_equal(ours["W_x"], params["weight_ih"].T)
    np.testing.assert_array_equal(ours["W_h"], params["weight_hh"].T)
    if bias:
        np.testing.assert_array_equal(ours["b_x"], params["bias_ih"])
        np.testing.assert_array_equal(ours["b_h"], params["bias_hh"])
    else:
        assert set(ours) == {"W_x", "W_h"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_round_trips_exactly_both_ways(bias, dtype):
    params = torch_params(np.random.default_rng(2), 3, bias, dtype)
    back = layout.gru_to_torch(layout.gru_from_torch(params))
    assert set(back) == set(params)
    for name, value in params.items():
        assert back[name].dtype == dtype
        np.testing.assert_array_equal(back[name], value)
    ours = layout.gru_from_torch(params)
    again = layout.gru_from_torch(layout.gru_to_torch(ours))
    for name, value in ours.items():
        np.testing.assert_array_equal(again[name], value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_round_trip_keeps_weights_and_the_bias_sum(bias, dtype):
    params = torch_params(np.random.default_rng(3), 4, bias, dtype)
    back = layout.lstm_to_torch(layout.lstm_from_torch(params))
    assert set(back) == set(params)
    for name in ("weight_ih", "weight_hh"):
        assert back[name].dtype == dtype
        np.testing.assert_array_equal(back[name], params[name])
    if bias:  # the split is lost, the sum is kept: bias_ih = b, bias_hh = 0
        np.testing.assert_array_equal(back["bias_hh"], 0)
        np.testing.assert_array_equal(back["bias_ih"], params["bias_ih"] + params["bias_hh"])
    # lstmkit -> torch -> lstmkit is exact, the bias included (b + 0 = b)
    ours = layout.lstm_from_torch(params)
    again = layout.lstm_from_torch(layout.lstm_to_torch(ours))
    assert set(again) == set(ours)
    for name, value in ours.items():
        assert again[name].dtype == dtype
        np.testing.assert_array_equal(again[name], value)


def test_outputs_are_contiguous_copies():
    params = torch_params(np.random.default_rng(4), 4)
    ours = layout.lstm_from_torch(params)
    assert all(value.flags.c_contiguous for value in ours.values())
    # D = 1: weight_ih^T (1, 4H) is contiguous already, and must still be a copy
    narrow = {"weight_ih": np.zeros((4 * H, 1)), "weight_hh": np.zeros((4 * H, H))}
    assert not np.shares_memory(layout.lstm_from_torch(narrow)["W_x"], narrow["weight_ih"])
    gru = layout.gru_to_torch({"W_x": np.zeros((1, 3 * H)), "W_h": np.zeros((H, 3 * H)),
                               "b_x": np.zeros(3 * H), "b_h": np.zeros(3 * H)})
    assert all(value.flags.c_contiguous for value in gru.values())
    ours["W_x"][0, 0] += 1.0
    ours["W_h"][0, 0] += 1.0
    assert layout.lstm_from_torch(params)["W_x"][0, 0] == params["weight_ih"][0, 0]
    back = layout.lstm_to_torch(ours)
    back["bias_ih"][0] += 1.0
    assert back["bias_ih"][0] != ours["b"][0]


@pytest.mark.parametrize(("function", "params", "match"), [
    (layout.lstm_from_torch, {"weight_ih": np.zeros((4 * H, D)), "weight_hh": np.zeros((3 * H, H))},
     "do not fit together"),
    (layout.gru_from_torch, {"weight_ih": np.zeros((4 * H, D)), "weight_hh": np.zeros((4 * H, H))},
     "do not fit together"),
    (layout.lstm_to_torch, {"W_x": np.zeros((4 * H, D)), "W_h": np.zeros((H, 4 * H))},
     "do not fit together"),
    (layout.gru_to_torch, {"W_x": np.zeros((D, 3 * H)), "W_h": np.zeros(3 * H)},
     "do not fit together"),
    (layout.lstm_from_torch, {"weight_ih": np.zeros((4 * H, D)), "weight_hh": np.zeros((4 * H, H)),
                              "bias_ih": np.zeros(4 * H)}, "both bias_ih and bias_hh"),
    (layout.gru_to_torch, {"W_x": np.zeros((D, 3 * H)), "W_h": np.zeros((H, 3 * H)),
                           "b_h": np.zeros(3 * H)}, "both b_x and b_h"),
    (layout.gru_from_torch, {"weight_ih": np.zeros((3 * H, D)), "weight_hh": np.zeros((3 * H, H)),
                             "bias_ih": np.zeros(3 * H), "bias_hh": np.zeros(4 * H)},
     r"bias_hh has shape \(20,\)"),
    (layout.lstm_to_torch, {"W_x": np.zeros((D, 4 * H)), "W_h": np.zeros((H, 4 * H)),
                            "b": np.zeros(3 * H)}, r"b has shape \(15,\)"),
])
def test_shapes_that_do_not_fit_are_refused(function, params, match):
    with pytest.raises(ValueError, match=match):
        function(params)


def test_layout_does_not_import_torch():
    code = "import sys, lstmkit.interop.layout; assert 'torch' not in sys.modules"
    src = str(Path(lstmkit.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
