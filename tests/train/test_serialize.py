import numpy as np
import pytest

from lstmkit import GRU, LSTM, GRUCell, LSTMCell
from lstmkit.core.activations import Activation
from lstmkit.core.dense import Dense
from lstmkit.core.embedding import Embedding
from lstmkit.train.checkpoint import save_checkpoint
from lstmkit.train.model import ModelConfig, SequenceModel
from lstmkit.train.serialize import load, save

LAYERS = [
    LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, seed=1,
         peephole=True, clip=5.0, gate_activation=Activation("hard_sigmoid", alpha=0.3)),
    LSTM(3, 4, bias=False, coupled=True, seed=2),
    GRU(3, 5, num_layers=2, dropout=0.25, linear_before_reset=False, seed=3),
    LSTMCell(2, 6, candidate_activation="softsign", seed=4),
    GRUCell(2, 6, dtype=np.float64, seed=5),
    Dense(4, 3, seed=6),
    Embedding(9, 2, seed=7),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_round_trip_is_bit_exact(layer, tmp_path):
    save(layer, tmp_path / "layer.npz")
    loaded = load(tmp_path / "layer.npz")
    assert type(loaded) is type(layer)
    assert loaded.params.keys() == layer.params.keys()
    for name, value in layer.params.items():
        assert loaded.params[name].dtype == value.dtype
        assert np.array_equal(loaded.params[name], value)
    if hasattr(layer, "step"):
        assert loaded.step == layer.step


def test_loaded_lstm_computes_the_same_outputs(tmp_path):
    layer = LAYERS[0]
    save(layer, tmp_path / "lstm.npz")
    X = np.random.default_rng(0).standard_normal((2, 5, 3))
    assert np.array_equal(load(tmp_path / "lstm.npz").eval()(X)[0], layer.eval()(X)[0])


def test_model_round_trip(tmp_path):
    model = SequenceModel(ModelConfig(input_size=5, output_size=3, hidden_size=4, cell="gru",
                                      tokens="embedding", embedding_dim=3), seed=9)
    save(model, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.config == model.config
    assert all(np.array_equal(loaded.params[k], v) for k, v in model.params.items())


def test_load_refuses_foreign_and_mismatched_files(tmp_path):
    save_checkpoint(tmp_path / "other.npz", {"x": np.zeros(2)}, {"kind": "Spaceship"})
    with pytest.raises(ValueError, match="holds 'Spaceship', not a model or layer"):
        load(tmp_path / "other.npz")
    save_checkpoint(tmp_path / "bad.npz", {"params/W": np.zeros((2, 2), np.float32)},
                    {"kind": "Dense", "arguments": {"in_features": 4, "out_features": 3,
                                                    "bias": True, "dtype": "float32"}})
    with pytest.raises(ValueError, match="does not match its own config"):
        load(tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="save takes a SequenceModel or one of"):
        save(object(), tmp_path / "x.npz")
