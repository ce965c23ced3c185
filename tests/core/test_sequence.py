"""The sequence runner through the public layers: padding, state carrying, truncated BPTT,
dropout between layers, eval mode, layouts and dtypes.

Each behaviour is checked against an independent reference built from the layer itself:
a padded row against the same sequence run alone, a chunked run against one whole run,
truncated BPTT against per-chunk forward/backward calls, the dropout backward against
centered differences in float64.
"""

import numpy as np
import pytest

import lstmkit

N, T, D, H = 3, 7, 2, 4  # all distinct, so a swapped axis cannot pass
STACKS = [lstmkit.LSTM, lstmkit.GRU]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _arrays(state):
    """A state in torch's form as a list: [h, c] for the LSTM, [h] for the GRU."""
    return list(state) if isinstance(state, tuple) else [state]


def _pack(layer, arrays):
    return tuple(arrays) if isinstance(layer, lstmkit.LSTM) else arrays[0]


def _random_state(layer, n=N, seed=1, unbatched=False):
    """A random non-zero state of the layer's shape (num_layers * num_directions, N, H)."""
    K = layer.num_layers * layer.num_directions
    shape = (K, H) if unbatched else (K, n, H)
    arrays = [_rng(seed + i).standard_normal(shape).astype(layer.dtype) for i in range(2)]
    return _pack(layer, arrays)


def _rows(state, rows):
    """The batch rows `rows` (a slice) of a state in torch's form."""
    return tuple(A[:, rows] for A in state) if isinstance(state, tuple) else state[:, rows]


def _assert_states_equal(a, b, **tolerance):
    assert len(_arrays(a)) == len(_arrays(b))
    for A, B in zip(_arrays(a), _arrays(b), strict=True):
        if tolerance:
            np.testing.assert_allclose(A, B, **tolerance)
        else:
            np.testing.assert_array_equal(A, B)


def _assert_grads_equal(a, b, **tolerance):
    assert a.keys() == b.keys()
    for name in a:
        if tolerance:
            np.testing.assert_allclose(a[name], b[name], err_msg=name, **tolerance)
        else:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


TIGHT = {"rtol": 1e-11, "atol": 1e-13}  # float64 results that differ only in summation order


# ---------------------------------------------------------------- padding


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_outputs_at_padded_steps_are_exactly_zero(Layer, bidirectional):
    layer = Layer(D, H, num_layers=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    X = _rng().standard_normal((T, N, D))
    state = _random_state(layer)
    Y, _ = layer(X, state, lengths=np.array([T, 3, 0]))
    valid = np.arange(T)[:, None] < np.array([T, 3, 0])
    assert np.all(Y[~valid] == 0)
    assert np.all(Y[valid] != 0)
    mask = np.zeros((N, T), bool)
    mask[0, 2:] = mask[1, 1:5] = mask[2, :] = True  # left, both sides, none
    Y, _ = layer(X, state, mask=mask)
    assert np.all(Y[~mask.T] == 0)
    assert np.all(Y[mask.T] != 0)


@pytest.mark.parametrize("Layer", STACKS)
def test_final_state_is_taken_after_the_last_valid_step(Layer):
    layer = Layer(D, H, bidirectional=True, dtype=np.float64, seed=0)
    X = _rng().standard_normal((T, N, D))
    lengths = np.array([4, T, 1])
    Y, state = layer(X, lengths=lengths)
    h_n = _arrays(state)[0]
    for n, length in enumerate(lengths):
        np.testing.assert_array_equal(h_n[0, n], Y[length - 1, n, :H])  # forward: step len-1
        np.testing.assert_array_equal(h_n[1, n], Y[0, n, H:])  # reverse: ends at step 0
        _, alone = layer(X[:length, n : n + 1])
        _assert_states_equal(_rows(state, slice(n, n + 1)), alone, **TIGHT)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_each_masked_row_equals_its_sequence_run_alone(Layer, bidirectional):
    """Left, right and two-sided padding: outputs, final state and all gradients per row."""
    layer = Layer(D, H, num_layers=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    F = layer.num_directions * H
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    dY = _rng(3).standard_normal((T, N, F))  # non-zero at padded steps too: must be ignored
    dstate = _random_state(layer, seed=4)
    spans = [(3, T), (0, T), (1, 5)]  # left padded, full, padded on both sides
    mask = np.zeros((N, T), bool)
    for n, (start, stop) in enumerate(spans):
        mask[n, start:stop] = True
    Y, state = layer(X, state0, mask=mask)
    dX, dstate0 = layer.backward(dY, dstate)
    grads = layer.grads
    grads_sum = {name: np.zeros_like(g) for name, g in grads.items()}
    for n, (start, stop) in enumerate(spans):
        row = slice(n, n + 1)
        Y_alone, state_alone = layer(X[start:stop, row], _rows(state0, row))
        np.testing.assert_allclose(Y[start:stop, row], Y_alone, **TIGHT)
        _assert_states_equal(_rows(state, row), state_alone, **TIGHT)
        dX_alone, dstate0_alone = layer.backward(dY[start:stop, row], _rows(dstate, row))
        np.testing.assert_allclose(dX[start:stop, row], dX_alone, **TIGHT)
        assert np.all(dX[:start, row] == 0) and np.all(dX[stop:, row] == 0)
        _assert_states_equal(_rows(dstate0, row), dstate0_alone, **TIGHT)
        for name, g in layer.grads.items():
            grads_sum[name] += g
    _assert_grads_equal(grads, grads_sum, **TIGHT)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_length_zero_sequence_passes_its_state_through(Layer, bidirectional):
    layer = Layer(D, H, num_layers=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    lengths = np.array([T, 0, 4])
    Y, state = layer(X, state0, lengths=lengths)
    assert np.all(Y[:, 1] == 0)
    _assert_states_equal(_rows(state, 1), _rows(state0, 1))  # exactly the initial state
    dY = _rng(3).standard_normal(Y.shape)
    dstate = _random_state(layer, seed=4)
    dX, dstate0 = layer.backward(dY, dstate)
    assert np.all(dX[:, 1] == 0)
    _assert_states_equal(_rows(dstate0, 1), _rows(dstate, 1))  # passed through untouched
    assert not np.allclose(_arrays(dstate0)[0][:, 0], _arrays(dstate)[0][:, 0])


# ---------------------------------------------------------------- carried state, truncation


@pytest.mark.parametrize("Layer", STACKS)
def test_chunked_forward_with_carried_state_equals_one_forward(Layer):
    layer = Layer(D, H, num_layers=2, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    Y, state = layer(X, state0)
    chunks, carried = [], state0
    for start, stop in [(0, 3), (3, 4), (4, T)]:
        Y_chunk, carried = layer(X[start:stop], carried)
        chunks.append(Y_chunk)
    np.testing.assert_allclose(np.concatenate(chunks), Y, **TIGHT)
    _assert_states_equal(carried, state, **TIGHT)


def _forward_backward(layer, X, state0, dY, dstate, **options):
    layer(X, state0)
    dX, dstate0 = layer.backward(dY, dstate, **options)
    return dX, dstate0, layer.grads


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_truncate_at_least_t_equals_full_bptt_exactly(Layer, bidirectional):
    layer = Layer(D, H, num_layers=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    dY = _rng(3).standard_normal((T, N, layer.num_directions * H))
    dstate = _random_state(layer, seed=4)
    dX, dstate0, grads = _forward_backward(layer, X, state0, dY, dstate)
    for truncate in (T, T + 5):
        dX_t, dstate0_t, grads_t = _forward_backward(layer, X, state0, dY, dstate,
                                                     truncate=truncate)
        np.testing.assert_array_equal(dX_t, dX)
        _assert_states_equal(dstate0_t, dstate0)
        _assert_grads_equal(grads_t, grads)


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("k", [1, 3])
def test_truncate_k_equals_the_sum_of_per_chunk_backward_calls(Layer, k):
    """truncate=k on the whole sequence = forward/backward per chunk of k steps, the state
    carried forward, no state gradient between chunks, the final one into the last chunk."""
    layer = Layer(D, H, num_layers=2, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    dY = _rng(3).standard_normal((T, N, H))
    dstate = _random_state(layer, seed=4)
    dX_full, dstate0_full, grads_full = _forward_backward(layer, X, state0, dY, dstate)
    dX, dstate0, grads = _forward_backward(layer, X, state0, dY, dstate, truncate=k)
    assert not np.allclose(dX, dX_full)
    assert not np.allclose(grads["l0.W_h"], grads_full["l0.W_h"])

    starts = list(range(0, T, k))  # T = 7 is not a multiple of 3: the last chunk is shorter
    chunk_dX, chunk_grads, carried = [], None, state0
    for j, start in enumerate(starts):
        stop = min(start + k, T)
        _, next_state = layer(X[start:stop], carried)
        last = j == len(starts) - 1
        dX_j, dstate0_j = layer.backward(dY[start:stop], dstate if last else None)
        if j == 0:
            chunk_dstate0 = dstate0_j  # the initial state's gradient: first chunk only
        chunk_dX.append(dX_j)
        chunk_grads = dict(layer.grads) if chunk_grads is None else {
            name: g + layer.grads[name] for name, g in chunk_grads.items()}
        carried = next_state
    np.testing.assert_allclose(np.concatenate(chunk_dX), dX, **TIGHT)
    _assert_states_equal(chunk_dstate0, dstate0, **TIGHT)
    _assert_grads_equal(chunk_grads, grads, **TIGHT)


# ---------------------------------------------------------------- dropout and modes


@pytest.mark.parametrize("Layer", STACKS)
def test_dropout_is_active_only_in_train_mode(Layer):
    X = _rng(1).standard_normal((T, N, D))
    layer = Layer(D, H, num_layers=2, dropout=0.5, dtype=np.float64, seed=3)
    plain = Layer(D, H, num_layers=2, dtype=np.float64, seed=3)  # same seed: same params
    _assert_grads_equal(layer.params, plain.params)
    Y_plain, state_plain = plain(X)
    Y_train, _ = layer(X)
    Y_train_again, _ = layer(X)
    assert not np.allclose(Y_train, Y_plain)
    assert not np.allclose(Y_train_again, Y_train)  # a new mask each forward
    layer.eval()
    for _ in range(2):
        Y_eval, state_eval = layer(X)
        np.testing.assert_array_equal(Y_eval, Y_plain)
        _assert_states_equal(state_eval, state_plain)
    layer.train()
    assert not np.allclose(layer(X)[0], Y_plain)


@pytest.mark.parametrize("Layer", STACKS)
def test_dropout_is_never_applied_after_the_last_layer(Layer):
    X = _rng(1).standard_normal((T, N, D))
    one = Layer(D, H, num_layers=1, dropout=0.5, dtype=np.float64, seed=3)
    Y_train, _ = one(X)
    np.testing.assert_array_equal(Y_train, one.eval()(X)[0])
    two = Layer(D, H, num_layers=2, dropout=0.5, bidirectional=True, dtype=np.float64, seed=3)
    Y, state = two(X)
    h_n = _arrays(state)[0]  # (4, N, H): layer 1 forward and reverse are the last two
    np.testing.assert_array_equal(Y[T - 1, :, :H], h_n[2])
    np.testing.assert_array_equal(Y[0, :, H:], h_n[3])


@pytest.mark.parametrize("Layer", STACKS)
def test_dropout_is_reproducible_with_the_same_seed(Layer):
    X = _rng(1).standard_normal((T, N, D))
    a = Layer(D, H, num_layers=3, dropout=0.4, dtype=np.float64, seed=11)
    b = Layer(D, H, num_layers=3, dropout=0.4, dtype=np.float64, seed=11)
    Y_a, state_a = a(X)
    Y_b, state_b = b(X)
    np.testing.assert_array_equal(Y_a, Y_b)
    _assert_states_equal(state_a, state_b)
    a.rng = np.random.default_rng(5)
    Y_1, _ = a(X)
    a.rng = np.random.default_rng(5)
    Y_2, _ = a(X)
    np.testing.assert_array_equal(Y_1, Y_2)


def _loss(layer, X, state0, G, G_state, seed):
    """L = sum(Y * G) + sum(state * G_state), the dropout mask fixed by re-seeding."""
    layer.rng = np.random.default_rng(seed)
    Y, state = layer(X, state0)
    return float((Y * G).sum() + sum((A * B).sum() for A, B in
                                     zip(_arrays(state), _arrays(G_state), strict=True)))


def _numeric(f, A, index, eps=1e-6):
    old = A[index]
    A[index] = old + eps
    plus = f()
    A[index] = old - eps
    minus = f()
    A[index] = old
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("Layer", STACKS)
def test_dropout_backward_passes_a_gradient_check(Layer):
    layer = Layer(D, H, num_layers=2, bidirectional=True, dropout=0.5, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(layer, seed=2)
    G = _rng(3).standard_normal((T, N, 2 * H))
    G_state = _random_state(layer, seed=4)
    seed = 9

    layer.rng = np.random.default_rng(seed)
    layer(X, state0)
    dX, dstate0 = layer.backward(G, G_state)
    analytic = {f"param {name}": (layer.params[name], g) for name, g in layer.grads.items()}
    analytic["X"] = (X, dX)
    for i, (A, dA) in enumerate(zip(_arrays(state0), _arrays(dstate0), strict=True)):
        analytic[f"state {i}"] = (A, dA)

    def f():
        return _loss(layer, X, state0, G, G_state, seed)

    pick = _rng(5)
    for name, (A, dA) in analytic.items():
        assert dA.shape == A.shape, name
        for flat in pick.choice(A.size, size=min(A.size, 6), replace=False):
            index = np.unravel_index(flat, A.shape)
            np.testing.assert_allclose(dA[index], _numeric(f, A, index), rtol=1e-6, atol=1e-8,
                                       err_msg=f"{name}{index}")
    assert layer.dropout > 0 and f() != _loss(layer, X, state0, G, G_state, seed + 1)


@pytest.mark.parametrize("Layer", STACKS)
def test_eval_mode_keeps_no_tape(Layer):
    layer = Layer(D, H, num_layers=2, dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    Y_train, state_train = layer(X)
    layer.eval()
    Y_eval, state_eval = layer(X)
    assert layer._tape is None
    np.testing.assert_array_equal(Y_eval, Y_train)  # no dropout: the same numbers
    _assert_states_equal(state_eval, state_train)
    with pytest.raises(RuntimeError, match="train mode"):
        layer.backward(np.zeros_like(Y_eval))
    layer.train()(X)
    assert layer._tape is not None
    layer.backward(np.zeros_like(Y_eval))


# ---------------------------------------------------------------- layouts


@pytest.mark.parametrize("Layer", STACKS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_input_equals_a_batch_of_one(Layer, batch_first):
    layer = Layer(D, H, num_layers=2, bidirectional=True, batch_first=batch_first,
                  dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, D))  # unbatched is (T, D) in either layout, as in torch
    state0 = _random_state(layer, seed=2, unbatched=True)
    dY = _rng(3).standard_normal((T, 2 * H))
    dstate = _random_state(layer, seed=4, unbatched=True)

    Y, state = layer(X, state0, lengths=np.array([5]))
    dX, dstate0 = layer.backward(dY, dstate, truncate=3)
    grads = layer.grads

    def batch(A):  # (K, H) -> (K, 1, H)
        return A[:, None]

    X_b = X[None] if batch_first else X[:, None]
    dY_b = dY[None] if batch_first else dY[:, None]
    Y_b, state_b = layer(X_b, _pack(layer, [batch(A) for A in _arrays(state0)]),
                         lengths=np.array([5]))
    dX_b, dstate0_b = layer.backward(dY_b, _pack(layer, [batch(A) for A in _arrays(dstate)]),
                                     truncate=3)
    assert Y.shape == (T, 2 * H) and dX.shape == (T, D)
    np.testing.assert_array_equal(Y, Y_b[0] if batch_first else Y_b[:, 0])
    np.testing.assert_array_equal(dX, dX_b[0] if batch_first else dX_b[:, 0])
    for A, B in zip(_arrays(state) + _arrays(dstate0), _arrays(state_b) + _arrays(dstate0_b),
                    strict=True):
        assert A.shape == (4, H)
        np.testing.assert_array_equal(A, B[:, 0])
    _assert_grads_equal(grads, layer.grads)


@pytest.mark.parametrize("Layer", STACKS)
def test_batch_first_equals_time_major_transposed(Layer):
    time_major = Layer(D, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    batch_first = Layer(D, H, num_layers=2, bidirectional=True, batch_first=True,
                        dtype=np.float64, seed=0)
    X = _rng(1).standard_normal((T, N, D))
    state0 = _random_state(time_major, seed=2)
    dY = _rng(3).standard_normal((T, N, 2 * H))
    lengths = np.array([T, 2, 5])

    Y, state = time_major(X, state0, lengths=lengths)
    dX, dstate0 = time_major.backward(dY, state)
    Y_bf, state_bf = batch_first(X.transpose(1, 0, 2), state0, lengths=lengths)
    dX_bf, dstate0_bf = batch_first.backward(dY.transpose(1, 0, 2), state_bf)

    assert Y_bf.shape == (N, T, 2 * H) and dX_bf.shape == (N, T, D)
    np.testing.assert_array_equal(Y_bf, Y.transpose(1, 0, 2))
    np.testing.assert_array_equal(dX_bf, dX.transpose(1, 0, 2))
    _assert_states_equal(state_bf, state)  # the state is (K, N, H) in both layouts
    _assert_states_equal(dstate0_bf, dstate0)
    _assert_grads_equal(batch_first.grads, time_major.grads)


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize(
    ("Layer", "options"),
    [(lstmkit.LSTM, {}), (lstmkit.LSTM, {"peephole": True, "clip": 3.0, "forget_bias": 1.0}),
     (lstmkit.LSTM, {"coupled": True, "gate_activation": "hard_sigmoid"}),
     (lstmkit.GRU, {}), (lstmkit.GRU, {"linear_before_reset": False})],
)
def test_float32_layers_keep_float32_everywhere(Layer, options):
    layer = Layer(D, H, num_layers=2, bidirectional=True, dropout=0.3, dtype=np.float32,
                  seed=0, **options)
    X = _rng(1).standard_normal((T, N, D)).astype(np.float32)
    state0 = _random_state(layer, seed=2)
    assert all(A.dtype == np.float32 for A in layer.params.values())
    Y, state = layer(X, state0, lengths=np.array([T, 0, 3]))
    dX, dstate0 = layer.backward(np.ones_like(Y), state, truncate=2)
    for A in [Y, dX, *_arrays(state), *_arrays(dstate0), *layer.grads.values()]:
        assert A.dtype == np.float32
    assert layer.grads.keys() == layer.params.keys()
    Y_eval, state_eval = layer.eval()(X[:, 0], _rows(state0, 0), mask=np.ones((1, T), bool))
    assert Y_eval.dtype == np.float32
    assert all(A.dtype == np.float32 for A in _arrays(state_eval))


@pytest.mark.parametrize("Cell", [lstmkit.LSTMCell, lstmkit.GRUCell])
def test_float32_cells_keep_float32_everywhere(Cell):
    cell = Cell(D, H, dtype=np.float32, seed=0)
    X = _rng(1).standard_normal((N, D)).astype(np.float32)
    state = cell(X)
    dX, dstate = cell.backward(state)
    for A in [dX, *_arrays(state), *_arrays(dstate), *cell.grads.values()]:
        assert A.dtype == np.float32
