"""Every bad input to the public layers gets one clear error naming the argument.

Tested through lstmkit.LSTM, GRU, LSTMCell and GRUCell (core.checks and the layer shells
together): the error type, and a message that names the argument and what was expected.
"""

import re

import numpy as np
import pytest

import lstmkit
from lstmkit.core.activations import Activation

N, T, D, H = 2, 5, 3, 4  # all distinct, so a swapped axis cannot pass
STACKS = [lstmkit.LSTM, lstmkit.GRU]
CELLS = [lstmkit.LSTMCell, lstmkit.GRUCell]


def _x(shape, dtype=np.float64):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def _state(layer, K=1, n=N, dtype=np.float64):
    """A valid zero state for a stack layer: (h_0, c_0) for the LSTM, h_0 for the GRU."""
    h = np.zeros((K, n, H), dtype)
    return (h, h.copy()) if isinstance(layer, lstmkit.LSTM) else h


def _cell_state(cell, dtype=np.float64):
    h = np.zeros((N, H), dtype)
    return (h, h.copy()) if isinstance(cell, lstmkit.LSTMCell) else h


# ---------------------------------------------------------------- X: rank, size, dtype


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("shape", [(D,), (1, T, N, D)])
def test_stack_x_of_wrong_rank(Layer, shape):
    layer = Layer(D, H, dtype=np.float64)
    got = re.escape(str(shape))
    with pytest.raises(ValueError, match=rf"X has shape {got}, expected \(T, N, 3\) or \(T, 3\)"):
        layer(np.zeros(shape))


def test_stack_x_of_wrong_rank_names_the_batch_first_layout():
    layer = lstmkit.LSTM(D, H, batch_first=True, dtype=np.float64)
    with pytest.raises(ValueError, match=r"expected \(N, T, 3\) or \(T, 3\) unbatched"):
        layer(np.zeros((D,)))


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_stack_x_of_wrong_feature_size(Layer, batch_first):
    layer = Layer(D, H, batch_first=batch_first, dtype=np.float64)
    expected = r"\(N, T, 3\)" if batch_first else r"\(T, N, 3\)"
    with pytest.raises(ValueError, match=rf"X has shape \(5, 2, 4\), expected {expected}"):
        layer(np.zeros((T, N, D + 1)))
    with pytest.raises(ValueError, match=r"X has shape \(5, 4\), expected \(T, 3\)"):
        layer(np.zeros((T, D + 1)))  # unbatched


@pytest.mark.parametrize("Cell", CELLS)
def test_cell_x_of_wrong_rank_or_size(Cell):
    cell = Cell(D, H, dtype=np.float64)
    with pytest.raises(ValueError, match=r"X has shape \(2, 3, 1\), expected \(N, 3\)"):
        cell(np.zeros((N, D, 1)))
    with pytest.raises(ValueError, match=r"X has shape \(\), expected \(N, 3\)"):
        cell(np.zeros(()))
    with pytest.raises(ValueError, match=r"X has shape \(2, 4\), expected \(N, 3\)"):
        cell(np.zeros((N, D + 1)))
    with pytest.raises(ValueError, match=r"X has shape \(4,\), expected \(3,\)"):
        cell(np.zeros((D + 1,)))  # unbatched


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize(
    ("layer_dtype", "x_dtype"),
    [(np.float32, np.float64), (np.float64, np.float32), (np.float32, np.int64),
     (np.float64, np.int32), (np.float64, np.bool_)],
)
def test_x_of_another_dtype_is_refused_not_cast(Layer, layer_dtype, x_dtype):
    layer = Layer(D, H, dtype=layer_dtype)
    shape = (T, N, D) if Layer in STACKS else (N, D)
    message = (rf"X has dtype {np.dtype(x_dtype)} but the parameters are "
               rf"{np.dtype(layer_dtype)}; convert it with \.astype\(np\.{np.dtype(layer_dtype)}\)")
    with pytest.raises(TypeError, match=message):
        layer(np.zeros(shape, x_dtype))


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x(Layer, bad):
    layer = Layer(D, H, dtype=np.float32)
    X = _x((T, N, D) if Layer in STACKS else (N, D), np.float32)
    X[(1,) * X.ndim] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        layer(X)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_zero_time_steps(Layer, batch_first):
    layer = Layer(D, H, batch_first=batch_first, dtype=np.float64)
    shape = (N, 0, D) if batch_first else (0, N, D)
    with pytest.raises(ValueError, match="X has 0 time steps"):
        layer(np.zeros(shape))
    with pytest.raises(ValueError, match="X has 0 time steps"):
        layer(np.zeros((0, D)))  # unbatched


# ---------------------------------------------------------------- lengths and mask


@pytest.mark.parametrize("Layer", STACKS)
def test_lengths_longer_than_t(Layer):
    with pytest.raises(ValueError, match=r"lengths must lie in 0\.\.5 \(the number of steps T\)"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), lengths=[T, T + 1])


@pytest.mark.parametrize("Layer", STACKS)
def test_negative_lengths(Layer):
    with pytest.raises(ValueError, match=r"lengths must lie in 0\.\.5 .*got -1\.\.3"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), lengths=[3, -1])


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize(
    ("lengths", "got"),
    [([T, T, T], r"int64 \(3,\)"), ([[T, T]], r"int64 \(1, 2\)"), (T, r"int64 \(\)"),
     ([5.0, 3.0], r"float64 \(2,\)"), ([True, True], r"bool \(2,\)")],
)
def test_lengths_of_wrong_shape_or_dtype(Layer, lengths, got):
    with pytest.raises(ValueError, match=rf"lengths must be integers of shape \(2,\), got {got}"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), lengths=np.asarray(lengths))


@pytest.mark.parametrize("Layer", STACKS)
def test_mask_with_a_hole(Layer):
    mask = np.ones((N, T), bool)
    mask[1, 2] = False  # row 1: valid, valid, gap, valid, valid
    with pytest.raises(ValueError, match="mask row 1 has a hole"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), mask=mask)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize(
    ("mask", "got"),
    [(np.ones((T, N), bool), r"bool \(5, 2\)"), (np.ones((N, T + 1), bool), r"bool \(2, 6\)"),
     (np.ones((N, T), np.int64), r"int64 \(2, 5\)"), (np.ones((N, T)), r"float64 \(2, 5\)")],
)
def test_mask_of_wrong_shape_or_dtype(Layer, mask, got):
    with pytest.raises(ValueError, match=rf"mask must be a bool array of shape \(2, 5\) \(N, T\), "
                                         rf"got {got}"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), mask=mask)


@pytest.mark.parametrize("Layer", STACKS)
def test_lengths_and_mask_together(Layer):
    with pytest.raises(ValueError, match="give lengths or mask, not both"):
        Layer(D, H, dtype=np.float64)(_x((T, N, D)), lengths=[T, T], mask=np.ones((N, T), bool))


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize(
    ("Layer", "argument"),
    [(lstmkit.LSTM, "gate_activation"), (lstmkit.LSTM, "candidate_activation"),
     (lstmkit.LSTM, "cell_activation"), (lstmkit.GRU, "gate_activation"),
     (lstmkit.GRU, "candidate_activation"), (lstmkit.LSTMCell, "cell_activation"),
     (lstmkit.GRUCell, "gate_activation")],
)
def test_unknown_activation_name(Layer, argument):
    with pytest.raises(ValueError, match=rf"{argument}: unknown activation 'swish'; choose one "
                                         "of: sigmoid, tanh"):
        Layer(D, H, **{argument: "swish"})
    with pytest.raises(TypeError, match=rf"{argument}: an activation is a name or an Activation, "
                                        "got int"):
        Layer(D, H, **{argument: 3})


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize(
    ("name", "options", "message"),
    [("leaky_relu", {"alpha": 0.0}, r"activation 'leaky_relu' needs alpha > 0 \(got 0\.0\)"),
     ("elu", {"alpha": -1.0}, r"activation 'elu' needs alpha > 0 \(got -1\.0\)"),
     ("tanh", {"alpha": 1.0}, "activation 'tanh' takes no alpha"),
     ("sigmoid", {"beta": 1.0}, "activation 'sigmoid' takes no beta")],
)
def test_bad_alpha_or_beta(Layer, name, options, message):
    with pytest.raises(ValueError, match=message):
        Layer(D, H, gate_activation=Activation(name, **options))


# ---------------------------------------------------------------- states


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize(
    ("shape", "got"),
    [((2, N, H), r"\(2, 2, 4\)"), ((1, N, H + 1), r"\(1, 2, 5\)"), ((1, N + 1, H), r"\(1, 3, 4\)"),
     ((N, H), r"\(2, 4\)")],
)
def test_lstm_state_of_wrong_shape(which, shape, got):
    layer = lstmkit.LSTM(D, H, dtype=np.float64)
    state = [np.zeros((1, N, H)), np.zeros((1, N, H))]
    state[which] = np.zeros(shape)
    name = ("h_0", "c_0")[which]
    with pytest.raises(ValueError, match=rf"{name} has shape {got}, expected \(1, 2, 4\)"):
        layer(_x((T, N, D)), tuple(state))


def test_stacked_bidirectional_state_counts_layers_times_directions():
    layer = lstmkit.GRU(D, H, num_layers=2, bidirectional=True, dtype=np.float64)
    with pytest.raises(ValueError, match=r"h_0 has shape \(2, 2, 4\), expected \(4, 2, 4\)"):
        layer(_x((T, N, D)), np.zeros((2, N, H)))
    with pytest.raises(ValueError, match=r"h_0 has shape \(4, 2, 4\), expected \(4, 4\)"):
        layer(_x((T, D)), np.zeros((4, N, H)))  # unbatched input takes an unbatched state


def test_gru_state_of_wrong_shape():
    layer = lstmkit.GRU(D, H, dtype=np.float64)
    with pytest.raises(ValueError, match=r"h_0 has shape \(1, 2, 5\), expected \(1, 2, 4\)"):
        layer(_x((T, N, D)), np.zeros((1, N, H + 1)))


@pytest.mark.parametrize(
    ("state", "got"),
    [(np.zeros((1, N, H)), "ndarray"), ((np.zeros((1, N, H)),), "1-tuple"),
     ((np.zeros((1, N, H)),) * 3, "3-tuple"), ([np.zeros((1, N, H))] * 3, "3-tuple")],
)
def test_lstm_state_that_is_not_a_pair(state, got):
    layer = lstmkit.LSTM(D, H, dtype=np.float64)
    with pytest.raises(ValueError, match=rf"state must be a tuple \(h_0, c_0\), got {got}"):
        layer(_x((T, N, D)), state)


def test_lstm_cell_state_that_is_not_a_pair():
    cell = lstmkit.LSTMCell(D, H, dtype=np.float64)
    with pytest.raises(ValueError, match=r"state must be a tuple \(h, c\), got ndarray"):
        cell(_x((N, D)), np.zeros((N, H)))


@pytest.mark.parametrize("which", [0, 1])
def test_lstm_cell_state_of_wrong_shape(which):
    cell = lstmkit.LSTMCell(D, H, dtype=np.float64)
    state = [np.zeros((N, H)), np.zeros((N, H))]
    state[which] = np.zeros((N, H + 1))
    name = ("h", "c")[which]
    with pytest.raises(ValueError, match=rf"{name} has shape \(2, 5\), expected \(2, 4\)"):
        cell(_x((N, D)), tuple(state))
    with pytest.raises(ValueError, match=r"h has shape \(2, 4\), expected \(4,\)"):
        cell(_x((D,)), (np.zeros((N, H)), np.zeros((H,))))  # unbatched input


def test_gru_cell_state_of_wrong_shape():
    cell = lstmkit.GRUCell(D, H, dtype=np.float64)
    with pytest.raises(ValueError, match=r"h has shape \(3, 4\), expected \(2, 4\)"):
        cell(_x((N, D)), np.zeros((N + 1, H)))


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_the_state(Layer, bad):
    layer = Layer(D, H, dtype=np.float64)
    if Layer in STACKS:
        X, state, names = _x((T, N, D)), _state(layer), ("h_0", "c_0")
    else:
        X, state, names = _x((N, D)), _cell_state(layer), ("h", "c")
    arrays = list(state) if isinstance(state, tuple) else [state]
    for k, name in enumerate(names[: len(arrays)]):
        bad_arrays = [A.copy() for A in arrays]
        bad_arrays[k][0, ...] = bad
        bad_state = tuple(bad_arrays) if isinstance(state, tuple) else bad_arrays[0]
        with pytest.raises(ValueError, match=f"{name} contains NaN or inf"):
            layer(X, bad_state)


@pytest.mark.parametrize("Layer", STACKS + CELLS)
def test_state_of_another_dtype(Layer):
    layer = Layer(D, H, dtype=np.float32)
    if Layer in STACKS:
        X, state, name = _x((T, N, D), np.float32), _state(layer), "h_0"
    else:
        X, state, name = _x((N, D), np.float32), _cell_state(layer), "h"
    with pytest.raises(TypeError, match=f"{name} has dtype float64 but the parameters are float32"):
        layer(X, state)


# ---------------------------------------------------------------- backward


@pytest.mark.parametrize("Layer", STACKS)
def test_backward_before_forward(Layer):
    layer = Layer(D, H, dtype=np.float64)
    with pytest.raises(RuntimeError, match="backward needs a forward pass in train mode first"):
        layer.backward(np.zeros((T, N, H)))


@pytest.mark.parametrize("Cell", CELLS)
def test_cell_backward_before_forward(Cell):
    cell = Cell(D, H, dtype=np.float64)
    with pytest.raises(RuntimeError, match="backward needs a forward pass first"):
        cell.backward(_cell_state(cell))


@pytest.mark.parametrize("Layer", STACKS)
def test_backward_after_an_eval_mode_forward(Layer):
    layer = Layer(D, H, dtype=np.float64)
    layer(_x((T, N, D)))  # train mode: a tape is kept ...
    layer.eval()(_x((T, N, D)))  # ... and an eval-mode forward leaves none
    with pytest.raises(RuntimeError, match=r"in train mode first \(call \.train\(\)"):
        layer.backward(np.zeros((T, N, H)))


@pytest.mark.parametrize("Layer", STACKS)
def test_second_backward_for_one_forward(Layer):
    layer = Layer(D, H, dtype=np.float64)
    layer(_x((T, N, D)))
    layer.backward(np.zeros((T, N, H)))
    with pytest.raises(RuntimeError, match="each forward allows one backward"):
        layer.backward(np.zeros((T, N, H)))


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize(
    ("options", "x_shape", "dy_shape", "expected"),
    [({}, (T, N, D), (T, N, H + 1), r"\(5, 2, 4\)"),
     ({}, (T, N, D), (N, T, H), r"\(5, 2, 4\)"),
     ({"batch_first": True}, (N, T, D), (T, N, H), r"\(2, 5, 4\)"),
     ({"bidirectional": True}, (T, N, D), (T, N, H), r"\(5, 2, 8\)"),
     ({}, (T, D), (T, 1, H), r"\(5, 4\)")],
)
def test_dy_of_wrong_shape(Layer, options, x_shape, dy_shape, expected):
    layer = Layer(D, H, dtype=np.float64, **options)
    layer(_x(x_shape))
    got = re.escape(str(dy_shape))
    with pytest.raises(ValueError, match=rf"dY has shape {got}, expected {expected}"):
        layer.backward(np.zeros(dy_shape))


@pytest.mark.parametrize("Layer", STACKS)
def test_dy_of_another_dtype_or_not_finite(Layer):
    layer = Layer(D, H, dtype=np.float32)
    layer(_x((T, N, D), np.float32))
    with pytest.raises(TypeError, match="dY has dtype float64 but the parameters are float32"):
        layer.backward(np.zeros((T, N, H)))
    dY = np.zeros((T, N, H), np.float32)
    dY[2, 1, 3] = np.nan
    with pytest.raises(ValueError, match="dY contains NaN or inf"):
        layer.backward(dY)


def test_dstate_of_wrong_shape_or_not_a_pair():
    layer = lstmkit.LSTM(D, H, dtype=np.float64)
    layer(_x((T, N, D)))
    dY = np.zeros((T, N, H))
    with pytest.raises(ValueError, match=r"dstate must be a tuple \(h_0, c_0\), got ndarray"):
        layer.backward(dY, np.zeros((1, N, H)))
    with pytest.raises(ValueError, match=r"dc_0 has shape \(1, 2, 5\), expected \(1, 2, 4\)"):
        layer.backward(dY, (np.zeros((1, N, H)), np.zeros((1, N, H + 1))))
    cell = lstmkit.LSTMCell(D, H, dtype=np.float64)
    cell(_x((N, D)))
    with pytest.raises(ValueError, match=r"dstate must be a tuple \(h, c\), got ndarray"):
        cell.backward(np.zeros((N, H)))


@pytest.mark.parametrize("truncate", [0, -2, 2.5, True])
def test_bad_truncate(truncate):
    layer = lstmkit.GRU(D, H, dtype=np.float64)
    layer(_x((T, N, D)))
    with pytest.raises(ValueError, match="truncate must be a positive integer, got"):
        layer.backward(np.zeros((T, N, H)), truncate=truncate)


# ---------------------------------------------------------------- constructor arguments


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize("argument", ["input_size", "hidden_size"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True, "4"])
def test_sizes_must_be_positive_integers(Layer, argument, value):
    sizes = {"input_size": D, "hidden_size": H, argument: value}
    with pytest.raises(ValueError, match=rf"{argument} must be a positive integer, got "
                                         rf"{re.escape(repr(value))}"):
        Layer(**sizes)


@pytest.mark.parametrize("Layer", STACKS)
def test_num_layers_must_be_a_positive_integer(Layer):
    with pytest.raises(ValueError, match="num_layers must be a positive integer, got 0"):
        Layer(D, H, num_layers=0)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("dropout", [1.0, 1.5, -0.1, float("nan")])
def test_dropout_outside_zero_one(Layer, dropout):
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\), got"):
        Layer(D, H, num_layers=2, dropout=dropout)


@pytest.mark.parametrize("Layer", STACKS + CELLS)
@pytest.mark.parametrize(("dtype", "name"), [(int, "int64"), (np.float16, "float16"),
                                             (np.complex128, "complex128")])
def test_dtype_must_be_float32_or_float64(Layer, dtype, name):
    with pytest.raises(TypeError, match=f"dtype must be float32 or float64, got {name}"):
        Layer(D, H, dtype=dtype)


@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.LSTMCell])
@pytest.mark.parametrize("clip", [0, -1.0, float("nan")])
def test_clip_must_be_positive(Layer, clip):
    with pytest.raises(ValueError, match="clip must be a positive number or None, got"):
        Layer(D, H, clip=clip)


@pytest.mark.parametrize("Layer", [lstmkit.LSTM, lstmkit.LSTMCell])
def test_forget_bias_needs_a_bias(Layer):
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        Layer(D, H, bias=False, forget_bias=1.0)


def test_valid_inputs_pass_every_check():
    """The checks refuse only what is wrong: the same calls with good inputs run."""
    X = _x((T, N, D))
    lstm = lstmkit.LSTM(D, H, num_layers=2, dtype=np.float64)
    Y, state = lstm(X, _state(lstm, K=2), lengths=np.array([T, 0]))
    lstm.backward(np.ones_like(Y), state, truncate=T + 1)
    gru = lstmkit.GRU(D, H, dtype=np.float64)
    Y, h = gru(X, mask=np.array([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool))
    gru.backward(np.ones_like(Y), h)
    for Cell in CELLS:
        cell = Cell(D, H, dtype=np.float64)
        cell.backward(cell(_x((N, D)), _cell_state(cell)))
