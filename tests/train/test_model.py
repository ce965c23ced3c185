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
