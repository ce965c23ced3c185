import numpy as np
import pytest

from lstmkit.core.gradcheck import check_grads
from lstmkit.train.model import ModelConfig, SequenceModel


def check_model(config, X, targets, *, lengths=None, mask=None):
    model = SequenceModel(config, seed=3)
    out = model(X, lengths=lengths, mask=mask)
    _, d_out = model.loss(out, targets)
    model.backward(d_out)

    def loss():
        return model.loss(model(X, lengths=lengths, mask=mask), targets)[0]

    errors = check_grads(loss, model.params, model.grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors
    return model


def test_embedding_bidirectional_lstm_dense_cross_entropy_gradcheck():
    rng = np.random.default_rng(0)
    config = ModelConfig(input_size=6, output_size=3, hidden_size=4, num_layers=2,
                         bidirectional=True, tokens="embedding", embedding_dim=5,
                         dtype="float64")
    ids = rng.integers(0, 6, (2, 5))
    check_model(config, ids, rng.integers(0, 3, 2), lengths=np.array([5, 3]))


@pytest.mark.parametrize("head", ["last", "mean", "every"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_mse_heads_gradcheck(head, cell):
    rng = np.random.default_rng(1)
    config = ModelConfig(input_size=2, output_size=2, hidden_size=3, num_layers=2, cell=cell,
                         head=head, loss="mse", bidirectional=head != "every", dtype="float64")
    X = rng.standard_normal((2, 5, 2))
    mask = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], bool)
    shape = (2, 5, 2) if head == "every" else (2, 2)
    check_model(config, X, rng.standard_normal(shape), mask=mask)


def test_onehot_every_step_cross_entropy_ignores_padding():
    rng = np.random.default_rng(2)
    config = ModelConfig(input_size=5, output_size=5, hidden_size=6, tokens="onehot",
                         head="every", dtype="float64")
    ids = rng.integers(0, 5, (2, 7))
    targets = rng.integers(0, 5, (2, 7))
    model = check_model(config, ids, targets, lengths=np.array([7, 3]))
    out = model(ids, lengths=np.array([7, 3]))
    changed = targets.copy()
    changed[1, 3:] = (changed[1, 3:] + 1) % 5  # padded steps: not scored
    assert model.loss(out, targets)[0] == model.loss(out, changed)[0]


def test_predict_in_batches_equals_one_forward_and_keeps_no_cache():
    rng = np.random.default_rng(3)
    model = SequenceModel(ModelConfig(input_size=4, output_size=3, hidden_size=8), seed=0)
    X = rng.standard_normal((10, 5, 4)).astype(np.float32)
    whole = model(X, train=False)
    assert np.allclose(model.predict(X, batch_size=3), whole, rtol=1e-5, atol=1e-6)
    assert model.rnn._tape is None
    with pytest.raises(RuntimeError, match="backward needs a forward pass with train=True"):
        model.backward(np.zeros_like(whole))


def test_params_are_the_parts_arrays():
    model = SequenceModel(ModelConfig(input_size=3, output_size=2, hidden_size=4), seed=0)
    model.params["rnn.l0.W_h"] += 1.0
    assert model.rnn.params["l0.W_h"] is model.params["rnn.l0.W_h"]


def test_same_seed_same_model_and_bad_config():
    a = SequenceModel(ModelConfig(), seed=5)
    b = SequenceModel(ModelConfig(), seed=5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(ValueError, match="unknown cell 'lstmm'; choose one of: lstm, gru"):
        ModelConfig(cell="lstmm")


# -- a stream read in chunks, the state carried (the language model's truncated BPTT) ------

def stream_model(cell, seed=0):
    config = ModelConfig(input_size=7, output_size=7, hidden_size=5, num_layers=2, cell=cell,
                         tokens="embedding", embedding_dim=4, head="every", dtype="float64")
    return SequenceModel(config, seed=seed)


def chunked_grads(model, X, y, k):
    """The gradients of the mean loss over all N * T steps of X, read in chunks of k steps,
    each chunk starting from the state the last one ended in, backward stopping at its start."""
    T, total = X.shape[1], {}
    state = None
    for start in range(0, T, k):
        part = slice(start, start + k)
        output = model(X[:, part], state=state)
        state = model.final_state
        model.backward(model.loss(output, y[:, part])[1])
        for name, g in model.grads.items():  # chunk mean -> share of the whole mean
            total[name] = total.get(name, 0) + g * (X[:, part].shape[1] / T)
    return total


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chunked_forward_with_the_state_carried_equals_the_whole_forward(cell):
    rng = np.random.default_rng(1)
    model = stream_model(cell)
    X = rng.integers(0, 7, (3, 13))
    whole = model(X, train=False)
    whole_state = model.final_state
    parts, state = [], None
    for start in range(0, 13, 5):
        parts.append(model(X[:, start:start + 5], state=state, train=False))
        state = model.final_state
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-12, atol=1e-14)
    if cell == "gru":  # h alone; the LSTM's state is (h, c)
        state, whole_state = (state,), (whole_state,)
    for a, b in zip(state, whole_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k", [9, 12])
def test_truncation_length_at_least_t_gives_the_full_bptt_gradients(k):
    # one chunk of all T = 9 steps: the gradients of the whole loss, checked against centered
    # differences of the untruncated loss
    rng = np.random.default_rng(2)
    model = stream_model("lstm")
    X, y = rng.integers(0, 7, (2, 9)), rng.integers(0, 7, (2, 9))
    grads = chunked_grads(model, X, y, k)

    def loss():
        return model.loss(model(X), y)[0]

    errors = check_grads(loss, model.params, grads, eps=1e-5)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_truncation_k_matches_torch_with_detach_every_k_steps(cell):
    import torch

    from lstmkit.interop import layout
    from lstmkit.interop.torch import to_torch

    rng = np.random.default_rng(3)
    model = stream_model(cell, seed=4)
    N, T, k = 3, 11, 4  # chunks of 4, 4 and 3 steps
    X, y = rng.integers(0, 7, (N, T)), rng.integers(0, 7, (N, T))
    grads = chunked_grads(model, X, y, k)

    rnn = to_torch(model.rnn).double()
    embedding = torch.tensor(model.params["embedding.W"], requires_grad=True)
    W = torch.tensor(model.params["head.W"], requires_grad=True)
    b = torch.tensor(model.params["head.b"], requires_grad=True)
    inputs, outputs, state = embedding[torch.tensor(X)], [], None
    for start in range(0, T, k):
        output, state = rnn(inputs[:, start:start + k], state)
        state = tuple(s.detach() for s in state) if cell == "lstm" else state.detach()
        outputs.append(output)
    logits = torch.cat(outputs, dim=1) @ W + b  # (N, T, V)
    torch.nn.functional.cross_entropy(logits.reshape(N * T, 7),
                                      torch.tensor(y).reshape(-1)).backward()

    def close(ours, theirs, name):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)

    close(grads["embedding.W"], embedding.grad, "embedding")
    close(grads["head.W"], W.grad, "head.W")
    close(grads["head.b"], b.grad, "head.b")
    to_torch_layout = layout.lstm_to_torch if cell == "lstm" else layout.gru_to_torch
    for l in range(2):
        run = {key.removeprefix(f"rnn.l{l}."): g for key, g in grads.items()
               if key.startswith(f"rnn.l{l}.")}
        for name, ours in to_torch_layout(run).items():
            if cell == "lstm" and name == "bias_hh":  # torch's two LSTM biases share one grad
                ours = to_torch_layout(run)["bias_ih"]
            close(ours, getattr(rnn, f"{name}_l{l}").grad, f"{name}_l{l}")
