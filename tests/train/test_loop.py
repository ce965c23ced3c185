"""The training loop: one seed makes a run bit-identical, a resumed run (from an epoch-end
checkpoint or a mid-epoch Ctrl-C) equals the uninterrupted one bit for bit, a diverging
loss stops with a clear message and keeps the last good checkpoint, early stopping, the
per-epoch learning rate, and the checkpoints resume refuses."""

import dataclasses
import math
import os
import signal

import numpy as np
import pytest

from lstmkit.data.text import make_stream
from lstmkit.tasks.demo import first_symbol_data
from lstmkit.train import loop
from lstmkit.train.checkpoint import load_checkpoint, save_checkpoint
from lstmkit.train.config import TrainConfig
from lstmkit.train.loop import TIME_COLUMNS, Data, Diverged, Trainer, split_validation
from lstmkit.train.model import ModelConfig, SequenceModel

STEPS, SYMBOLS = 6, 3
MODEL = ModelConfig(input_size=SYMBOLS + 1, output_size=SYMBOLS, hidden_size=6)
# two layers with dropout between them: the dropout RNG is part of the state
DEEP = ModelConfig(input_size=SYMBOLS + 1, output_size=SYMBOLS, hidden_size=5, num_layers=2,
                   dropout=0.3)


def make_data(n=120, seed=0, ragged=False):
    rng = np.random.default_rng(seed)
    X, y = first_symbol_data(n, STEPS, SYMBOLS, rng)
    lengths = rng.integers(2, STEPS + 1, n) if ragged else None
    return Data(X, y, lengths)


def make_trainer(model_config, train_config, checkpoint=None, messages=None):
    model = SequenceModel(model_config, seed=train_config.seed)
    echo = (lambda *_: None) if messages is None else messages.append
    return Trainer(model, train_config, checkpoint=checkpoint, progress=False, echo=echo)


def train(model_config, train_config, data, checkpoint=None):
    trainer = make_trainer(model_config, train_config, checkpoint)
    return trainer.fit(*split_validation(data, train_config.validation_fraction,
                                         train_config.seed))


def without_times(history):
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in history]


def stop_at(trainer, n_batches, global_steps, action):
    """Call action() right after the optimizer steps numbered global_steps (1, 2, ... over
    the whole run, n_batches an epoch)."""
    original = trainer.optimizer.step

    def step(params, grads):
        original(params, grads)
        if trainer.epoch * n_batches + trainer.batch + 1 in global_steps:
            action()

    trainer.optimizer.step = step


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: the loop's handler catches it


def assert_same_state(a: Trainer, b: Trainer):
    """Parameters, history (time columns aside), optimizer, schedule and RNGs all equal."""
    assert a.model.params.keys() == b.model.params.keys()
    for name in a.model.params:
        assert np.array_equal(a.model.params[name], b.model.params[name]), name
    assert without_times(a.history) == without_times(b.history)
    state_a, state_b = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert np.array_equal(state_a[key], state_b[key]), key
    if a.schedule is not None:
        assert a.schedule.state_dict() == b.schedule.state_dict()
    assert a.optimizer.lr == b.optimizer.lr
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.model.rnn.rng.bit_generator.state == b.model.rnn.rng.bit_generator.state
    assert (a.epoch, a.batch, a.stopped) == (b.epoch, b.batch, b.stopped)
    assert (a.best_loss, a.bad_epochs) == (b.best_loss, b.bad_epochs)


def assert_same_checkpoint_arrays(path_a, path_b):
    arrays_a, meta_a = load_checkpoint(path_a)
    arrays_b, meta_b = load_checkpoint(path_b)
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        assert np.array_equal(arrays_a[name], arrays_b[name]), name
    assert without_times(meta_a["history"]) == without_times(meta_b["history"])


# -- (a) one seed, one run ----------------------------------------------------------------


def test_same_seed_gives_bit_identical_parameters_and_another_seed_differs():
    data = make_data(ragged=True)
    config = TrainConfig(epochs=3, batch_size=16, lr=1e-2, validation_fraction=0.2, seed=5)
    first = train(DEEP, config, data)
    second = train(DEEP, config, data)
    assert_same_state(first, second)
    other = train(DEEP, dataclasses.replace(config, seed=6), data)
    assert any(not np.array_equal(first.model.params[name], other.model.params[name])
               for name in first.model.params)
    assert without_times(first.history) != without_times(other.history)


# -- (b), (c) resume ----------------------------------------------------------------------


class KilledError(Exception):
    """Stands in for the process dying right after a checkpoint was written."""


def kill_after_epoch_end_save(trainer, epoch):
    original = trainer.save

    def save():
        original()
        if trainer.epoch == epoch and trainer.batch == 0:
            raise KilledError

    trainer.save = save


@pytest.mark.parametrize("how", ["killed after the epoch-2 checkpoint",
                                 "ctrl-c at the last batch of epoch 2"])
def test_resume_from_an_epoch_end_checkpoint_equals_an_uninterrupted_run(tmp_path, how):
    data = make_data()  # 96 training sequences: 6 batches an epoch
    config = TrainConfig(epochs=4, batch_size=16, lr=1e-2, validation_fraction=0.2, seed=1)
    reference = train(MODEL, config, data, tmp_path / "reference.npz")
    assert len(reference.history) == 4 and reference.stopped is None

    train_set, validation = split_validation(data, 0.2, 1)
    path = tmp_path / "run.npz"
    messages = []
    first = make_trainer(MODEL, config, path, messages)
    if how.startswith("killed"):
        kill_after_epoch_end_save(first, epoch=2)
        with pytest.raises(KilledError):
            first.fit(train_set, validation)
        expected_progress = (2, 0)
    else:
        stop_at(first, 6, {12}, ctrl_c)
        first.fit(train_set, validation)
        assert first.stopped == "interrupted"
        assert messages[-1].startswith("interrupted at epoch 2, batch 6; the checkpoint is saved")
        expected_progress = (1, 6)  # all batches of epoch 2 done, its end not yet
    progress = load_checkpoint(path)[1]["state"]["progress"]
    assert (progress["epoch"], progress["batch"]) == expected_progress

    resumed = make_trainer(MODEL, config, path)
    assert resumed.resume() is resumed
    resumed.fit(train_set, validation)
    assert_same_state(reference, resumed)
    assert_same_checkpoint_arrays(tmp_path / "reference.npz", path)


@pytest.mark.parametrize("stops", [{9}, {4, 11}, {1, 5, 15}], ids=["once", "twice", "edges"])
def test_resume_after_mid_epoch_ctrl_c_equals_an_uninterrupted_run(tmp_path, stops):
    # 2 layers with dropout, ragged sequences, a step schedule and clipping: every piece of
    # state (dropout RNG, shuffling RNG, partial epoch sums, schedule) must come back
    data = make_data(n=100, ragged=True)  # 80 training sequences: 5 batches an epoch
    config = TrainConfig(epochs=3, batch_size=16, lr=2e-2, validation_fraction=0.2,
                         schedule="step", step_size=1, gamma=0.5, clip_norm=0.5, seed=3)
    reference = train(DEEP, config, data, tmp_path / "reference.npz")

    train_set, validation = split_validation(data, 0.2, 3)
    path = tmp_path / "run.npz"
    handler = signal.getsignal(signal.SIGINT)
    trainer = make_trainer(DEEP, config, path)
    stop_at(trainer, 5, stops, ctrl_c)
    trainer.fit(train_set, validation)
    for step in sorted(stops):
        assert trainer.stopped == "interrupted"
        progress = load_checkpoint(path)[1]["state"]["progress"]
        assert (progress["epoch"], progress["batch"]) == ((step - 1) // 5, (step - 1) % 5 + 1)
        assert signal.getsignal(signal.SIGINT) is handler  # the loop's handler is gone
        trainer = make_trainer(DEEP, config, path).resume()
        stop_at(trainer, 5, stops, ctrl_c)
        trainer.fit(train_set, validation)
    assert trainer.stopped is None
    assert_same_state(reference, trainer)
    assert_same_checkpoint_arrays(tmp_path / "reference.npz", path)


def test_resume_keeps_the_early_stopping_count(tmp_path):
    # lr = 0: the validation loss never improves on epoch 1, so patience 3 ends the run after
    # epoch 4; a resume in epoch 3 must carry the best loss and the count of bad epochs
    data = make_data(n=80)  # 60 training sequences: 4 batches an epoch
    config = TrainConfig(epochs=8, batch_size=16, lr=0.0, validation_fraction=0.25,
                         patience=3, seed=4)
    reference = train(MODEL, config, data)
    assert reference.stopped == "early stopping" and len(reference.history) == 4

    train_set, validation = split_validation(data, 0.25, 4)
    path = tmp_path / "run.npz"
    trainer = make_trainer(MODEL, config, path)
    stop_at(trainer, 4, {10}, ctrl_c)
    trainer.fit(train_set, validation)
    assert trainer.stopped == "interrupted" and trainer.bad_epochs == 1
    resumed = make_trainer(MODEL, config, path).resume()
    resumed.fit(train_set, validation)
    assert_same_state(reference, resumed)


def test_a_second_ctrl_c_aborts_at_once(tmp_path):
    trainer = make_trainer(MODEL, TrainConfig(epochs=2, batch_size=16, seed=0),
                           tmp_path / "run.npz")

    def twice():
        ctrl_c()
        while not trainer._stop.is_set():  # the first one is handled: stop after the batch
            pass
        ctrl_c()  # the second one does not wait

    stop_at(trainer, 4, {2}, twice)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*split_validation(make_data(), 0.1, 0))


# -- (d) divergence -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_epoch_end_checkpoint(tmp_path,
                                                                                  bad):
    data = make_data(n=64)  # no validation: 4 batches an epoch
    config = TrainConfig(epochs=5, batch_size=16, lr=1e-2, validation_fraction=0.0, seed=2)
    path = tmp_path / "run.npz"
    trainer = make_trainer(MODEL, config, path)
    epoch_end_params = {}
    trainer.echo = lambda *_: epoch_end_params.setdefault(
        trainer.epoch, {k: v.copy() for k, v in trainer.model.params.items()})
    loss, calls = trainer.model.loss, []

    def poisoned_loss(output, targets):
        calls.append(1)
        value, d_output = loss(output, targets)
        return (np.float32(bad) if len(calls) == 11 else value), d_output

    trainer.model.loss = poisoned_loss  # the 11th batch: epoch 3, batch 3
    with pytest.raises(Diverged, match=rf"the training loss became {bad} at epoch 3, batch 3; "
                                       r"the last good checkpoint \(.*run\.npz\) is kept"):
        trainer.fit(data)
    assert issubclass(Diverged, FloatingPointError)
    assert len(trainer.history) == 2

    arrays, meta = load_checkpoint(path)  # intact: loads, checksum and all
    progress = meta["state"]["progress"]
    assert (progress["epoch"], progress["batch"], progress["stopped"]) == (2, 0, None)
    assert len(meta["history"]) == 2
    for name, value in epoch_end_params[2].items():
        assert np.array_equal(arrays[f"params/{name}"], value), name
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]  # no temporary file left

    # the kept checkpoint resumes, and the run finishes once the loss is finite again
    resumed = make_trainer(MODEL, config, path).resume()
    for name, value in epoch_end_params[2].items():
        assert np.array_equal(resumed.model.params[name], value), name
    resumed.fit(data)
    assert len(resumed.history) == 5


def test_diverged_without_a_checkpoint_names_no_file():
    trainer = make_trainer(MODEL, TrainConfig(epochs=1, batch_size=16, validation_fraction=0.0))
    loss = trainer.model.loss
    trainer.model.loss = lambda output, targets: (np.float32(np.nan), loss(output, targets)[1])
    with pytest.raises(Diverged, match=r"became nan at epoch 1, batch 1; the last good "
                                       r"checkpoint is kept"):
        trainer.fit(make_data(n=32))


# -- (e) early stopping -------------------------------------------------------------------


def scripted_validation(monkeypatch, losses):
    """Make every epoch's validation loss the next of `losses`."""
    values = iter(losses)
    monkeypatch.setattr(loop, "evaluate",
                        lambda model, data, batch_size=512: {"loss": next(values),
                                                             "accuracy": 0.5})


def test_early_stopping_when_the_validation_loss_stops_improving(tmp_path):
    # lr = 0: the parameters never change, so the validation loss never improves on epoch 1
    config = TrainConfig(epochs=10, batch_size=32, lr=0.0, validation_fraction=0.25,
                         patience=2, seed=0)
    path = tmp_path / "run.npz"
    trainer = train(MODEL, config, make_data(n=80), path)
    assert trainer.stopped == "early stopping"
    assert len(trainer.history) == 3 and trainer.epoch == 3
    assert len({row["val_loss"] for row in trainer.history}) == 1
    # the checkpoint knows the run is over: resuming trains no further
    resumed = make_trainer(MODEL, config, path).resume()
    assert resumed.stopped == "early stopping"
    resumed.fit(*split_validation(make_data(n=80), 0.25, 0))
    assert len(resumed.history) == 3


@pytest.mark.parametrize(
    ("losses", "patience", "epochs_run"),
    [
        ([1.0, 0.8, 0.9, 0.7, 0.75, 0.76, 0.77, 0.5, 0.4, 0.3], 3, 7),  # best at epoch 4
        ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], 1, 6),  # always improving: all epochs
        ([1.0, 1.0, 0.5], 1, 2),  # equal is not better
        ([0.5, 0.6, 0.4, 0.6, 0.4, 0.3], 2, 5),  # an equal best does not reset the count
    ],
)
def test_early_stopping_counts_epochs_since_the_best_validation_loss(monkeypatch, losses,
                                                                     patience, epochs_run):
    scripted_validation(monkeypatch, losses)
    config = TrainConfig(epochs=len(losses), batch_size=32, lr=1e-2, validation_fraction=0.25,
                         patience=patience)
    trainer = train(MODEL, config, make_data(n=40))
    assert len(trainer.history) == epochs_run
    assert [row["val_loss"] for row in trainer.history] == losses[:epochs_run]
    assert trainer.stopped == ("early stopping" if epochs_run < len(losses) else None)


# -- (f) the learning rate of each epoch --------------------------------------------------


def cosine(lr, epoch, t_max):
    return lr * (1 + math.cos(math.pi * epoch / t_max)) / 2


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"epochs": 3}, [0.1, 0.1, 0.1]),
        ({"epochs": 5, "schedule": "step", "step_size": 2, "gamma": 0.5},
         [0.1, 0.1, 0.05, 0.05, 0.025]),
        ({"epochs": 4, "schedule": "cosine"}, [cosine(0.1, e, 4) for e in range(4)]),
        ({"epochs": 4, "warmup_epochs": 2}, [0.01, 0.055, 0.1, 0.1]),
        ({"epochs": 5, "warmup_epochs": 2, "schedule": "step", "step_size": 1, "gamma": 0.5},
         [0.01, 0.055, 0.1, 0.05, 0.025]),
        ({"epochs": 6, "warmup_epochs": 2, "schedule": "cosine"},
         [0.01, 0.055] + [cosine(0.1, e, 4) for e in range(4)]),
    ],
    ids=["constant", "step", "cosine", "warmup", "warmup-step", "warmup-cosine"],
)
def test_schedule_sets_the_lr_of_each_epoch(options, expected):
    config = TrainConfig(optimizer="sgd", lr=0.1, batch_size=20, validation_fraction=0.0,
                         **options)
    trainer = train(MODEL, config, make_data(n=40))
    assert [row["lr"] for row in trainer.history] == pytest.approx(expected, rel=1e-12)


def test_plateau_schedule_lowers_the_lr_after_patience_bad_epochs(monkeypatch):
    # make_schedule's plateau: patience 2, factor gamma; a reduction applies from the next epoch
    scripted_validation(monkeypatch, [1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6])
    config = TrainConfig(epochs=9, optimizer="sgd", lr=0.1, batch_size=20, schedule="plateau",
                         gamma=0.5, validation_fraction=0.25)
    trainer = train(MODEL, config, make_data(n=40))
    assert [row["lr"] for row in trainer.history] == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025], rel=1e-12)


# -- one prediction per step ----------------------------------------------------------------


def test_every_step_head_scores_only_valid_steps_in_its_metrics():
    # predict each token itself: with the head "every", accuracy is a share of the valid
    # steps (at most 1), and the targets of padded steps change no metric
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, (48, 6))
    lengths = rng.integers(1, 7, 48)
    tokens = ModelConfig(input_size=5, output_size=5, hidden_size=6, tokens="onehot",
                         head="every")
    config = TrainConfig(epochs=3, batch_size=8, lr=0.05, validation_fraction=0.25, seed=0)
    history = train(tokens, config, Data(ids, ids.copy(), lengths)).history
    padded = np.arange(6) >= lengths[:, None]
    noise = np.where(padded, (ids + 1) % 5, ids)  # other targets at padded steps only
    other = train(tokens, config, Data(ids, noise, lengths)).history
    assert without_times(history) == without_times(other)
    for row in history:
        assert 0 <= row["train_accuracy"] <= 1 and 0 <= row["val_accuracy"] <= 1
    assert history[-1]["val_accuracy"] > history[0]["val_accuracy"]


def test_evaluate_every_step_head_equals_the_metrics_of_the_valid_steps():
    rng = np.random.default_rng(1)
    tokens = ModelConfig(input_size=5, output_size=5, hidden_size=4, tokens="onehot",
                         head="every")
    model = SequenceModel(tokens, seed=0)
    ids, targets = rng.integers(0, 5, (6, 5)), rng.integers(0, 5, (6, 5))
    lengths = np.array([5, 1, 3, 2, 5, 4])
    metrics = loop.evaluate(model, Data(ids, targets, lengths))
    valid = np.arange(5) < lengths[:, None]
    output = model.predict(ids, lengths=lengths)[valid]  # (M, C)
    shift = output - output.max(axis=1, keepdims=True)
    log_p = shift - np.log(np.exp(shift).sum(axis=1, keepdims=True))
    expected_loss = -log_p[np.arange(len(output)), targets[valid]].mean()
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert metrics["accuracy"] == np.mean(output.argmax(axis=1) == targets[valid])


# -- a text stream: chunks in order, the state carried --------------------------------------

STREAM_MODEL = ModelConfig(input_size=6, output_size=6, hidden_size=5, num_layers=2,
                           dropout=0.3, tokens="embedding", embedding_dim=3, head="every")


def make_streams(rows=4, steps=5):
    """(train, validation) Streams of a text whose next symbol mostly follows from the last."""
    rng = np.random.default_rng(5)
    ids = np.cumsum(rng.integers(1, 3, 303)) % 6  # +1 or +2 each step
    return make_stream(ids[:250], rows, steps), make_stream(ids[250:], 3, steps)


def test_stream_training_carries_the_state_from_chunk_to_chunk(monkeypatch):
    train_set, validation = make_streams()  # rows of 63, 62, 62, 62: 13 chunks of 5 or less
    config = TrainConfig(epochs=2, lr=0.02, seed=0)
    trainer = make_trainer(STREAM_MODEL, config)
    states, finals = [], []

    def spy(model, X, **options):
        output = SequenceModel.forward(model, X, **options)
        states.append(options["state"])
        finals.append(model.final_state)
        return output

    monkeypatch.setattr(SequenceModel, "__call__", spy)
    trainer.fit(train_set, validation)
    assert len(states) == 2 * train_set.n_chunks
    for epoch in range(2):  # each epoch starts from zeros, then carries the last chunk's state
        assert states[epoch * 13] is None
        for i in range(epoch * 13 + 1, (epoch + 1) * 13):
            assert states[i] is finals[i - 1]
    history = trainer.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]


def test_stream_evaluation_is_the_mean_loss_of_every_target_read_whole():
    # the stream's chunks with the state carried score each row as one unbroken sequence
    _, validation = make_streams(steps=4)
    model = SequenceModel(STREAM_MODEL, seed=1)
    metrics = loop.evaluate(model, validation)
    whole = loop.evaluate(model, Data(validation.X, validation.y, validation.lengths))
    assert validation.n_chunks > 1
    assert metrics["loss"] == pytest.approx(whole["loss"], rel=1e-5)
    assert metrics["accuracy"] == whole["accuracy"]


@pytest.mark.parametrize("stops", [{7}, {13, 20}, {1, 26}], ids=["once", "twice", "edges"])
def test_stream_resume_continues_the_same_loss_curve_bit_for_bit(tmp_path, stops):
    # Ctrl-C in the middle of an epoch and at its edges: the carried state, the dropout RNG and
    # the partial sums come back, so the resumed run is the uninterrupted one
    train_set, validation = make_streams()
    config = TrainConfig(epochs=3, lr=0.02, clip_norm=1.0, schedule="step", step_size=1,
                         gamma=0.5, seed=2)
    reference = make_trainer(STREAM_MODEL, config, tmp_path / "reference.npz")
    reference.fit(train_set, validation)

    path = tmp_path / "run.npz"
    trainer = make_trainer(STREAM_MODEL, config, path)
    stop_at(trainer, 13, stops, ctrl_c)
    trainer.fit(train_set, validation)
    for _ in stops:
        assert trainer.stopped == "interrupted"
        trainer = make_trainer(STREAM_MODEL, config, path).resume()
        stop_at(trainer, 13, stops, ctrl_c)
        trainer.fit(train_set, validation)
    assert trainer.stopped is None
    assert_same_state(reference, trainer)
    assert_same_checkpoint_arrays(tmp_path / "reference.npz", path)


# -- (g) what resume refuses --------------------------------------------------------------


@pytest.fixture
def saved_run(tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, validation_fraction=0.0)
    path = tmp_path / "run.npz"
    train(MODEL, config, make_data(n=32), path)
    return path, config


@pytest.mark.parametrize(
    ("model_config", "train_options"),
    [(MODEL, {"lr": 0.5}), (MODEL, {"epochs": 2}), (DEEP, {})],
    ids=["lr", "epochs", "model"],
)
def test_resume_refuses_a_checkpoint_of_another_config(saved_run, model_config, train_options):
    path, config = saved_run
    other = dataclasses.replace(config, **train_options)
    with pytest.raises(ValueError, match="was saved with another model or training config"):
        make_trainer(model_config, other, path).resume()


def test_resume_refuses_a_corrupt_checkpoint(saved_run):
    path, config = saved_run
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        make_trainer(MODEL, config, path).resume()
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        make_trainer(MODEL, config, path).resume()


def test_resume_refuses_a_checkpoint_that_is_not_a_training_one(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, {"head.W": np.zeros((2, 2), np.float32)}, {"kind": "model"})
    with pytest.raises(ValueError, match="is not a training checkpoint"):
        make_trainer(MODEL, TrainConfig(), path).resume()


def test_resume_from_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_trainer(MODEL, TrainConfig(), tmp_path / "nothing.npz").resume()
