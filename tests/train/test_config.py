"""TrainConfig and ModelConfig: validation, the optimizer and schedule a config names, and
the round trip through dataclasses.asdict that config.json and the CLI rely on."""

import dataclasses
import json
import math

import pytest

from lstmkit.train.config import (
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    make_optimizer,
    make_schedule,
)
from lstmkit.train.model import ModelConfig
from lstmkit.train.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from lstmkit.train.schedules import (
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"optimizer": "adamax"}, r"unknown optimizer 'adamax'; choose one of: sgd, adam"),
        ({"schedule": "cyclic"}, r"unknown schedule 'cyclic'; choose one of: constant, step"),
        ({"epochs": 0}, r"epochs must be at least 1, got 0"),
        ({"batch_size": 0}, r"batch_size must be at least 1, got 0"),
        ({"validation_fraction": 1.0}, r"validation_fraction must lie in \[0, 1\), got 1.0"),
        ({"validation_fraction": -0.1}, r"validation_fraction must lie in \[0, 1\)"),
        ({"patience": 3, "validation_fraction": 0.0},
         r"early stopping \(patience\) needs validation_fraction > 0"),
        ({"patience": 0}, r"patience must be at least 1, got 0"),
        ({"schedule": "plateau", "validation_fraction": 0.0},
         r"schedule 'plateau' needs validation_fraction > 0"),
    ],
)
def test_train_config_refuses_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**options)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "adagrad"])
def test_momentum_is_refused_for_optimizers_without_it(optimizer):
    with pytest.raises(ValueError, match=f"momentum applies to sgd and rmsprop, not {optimizer}"):
        TrainConfig(optimizer=optimizer, momentum=0.9)


def test_warmup_is_refused_with_plateau():
    with pytest.raises(ValueError, match="warmup_epochs does not combine with schedule 'plateau'"):
        TrainConfig(schedule="plateau", warmup_epochs=2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("cell", "rnn"), ("tokens", "bytes"), ("head", "first"), ("loss", "hinge"),
     ("dtype", "float16")],
)
def test_model_config_refuses_unknown_choices(field, value):
    with pytest.raises(ValueError, match=f"unknown {field} '{value}'; choose one of: "):
        ModelConfig(**{field: value})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().hidden_size = 4


# -- what a config builds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("sgd", SGD), ("adam", Adam), ("adamw", AdamW), ("rmsprop", RMSprop),
     ("adagrad", Adagrad)],
)
def test_make_optimizer_builds_the_named_optimizer(name, cls):
    momentum = 0.5 if name in ("sgd", "rmsprop") else 0.0
    optimizer = make_optimizer(TrainConfig(optimizer=name, lr=0.03, weight_decay=0.002,
                                           momentum=momentum))
    assert type(optimizer) is cls
    assert optimizer.lr == 0.03
    assert optimizer.weight_decay == 0.002
    if momentum:
        assert optimizer.momentum == 0.5


def test_every_optimizer_and_schedule_name_is_buildable():
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad"}
    for schedule in SCHEDULES:
        config = TrainConfig(schedule=schedule)
        make_schedule(config, make_optimizer(config))


def test_make_schedule_constant_is_none():
    config = TrainConfig(lr=0.1)
    optimizer = make_optimizer(config)
    assert make_schedule(config, optimizer) is None
    assert optimizer.lr == 0.1


def test_make_schedule_step():
    config = TrainConfig(lr=0.1, schedule="step", step_size=3, gamma=0.5)
    schedule = make_schedule(config, make_optimizer(config))
    assert type(schedule) is StepLR
    assert (schedule.step_size, schedule.gamma, schedule.base_lr) == (3, 0.5, 0.1)


def test_make_schedule_cosine_spans_the_epochs_after_warmup():
    config = TrainConfig(lr=0.1, epochs=12, schedule="cosine")
    schedule = make_schedule(config, make_optimizer(config))
    assert type(schedule) is CosineAnnealingLR
    assert schedule.t_max == 12
    config = TrainConfig(lr=0.1, epochs=12, schedule="cosine", warmup_epochs=4)
    optimizer = make_optimizer(config)
    schedule = make_schedule(config, optimizer)
    assert type(schedule) is SequentialLR
    warmup, cosine = schedule.schedules
    assert type(warmup) is LinearWarmup and type(cosine) is CosineAnnealingLR
    assert cosine.t_max == 8
    assert schedule.milestones == [4]
    assert schedule.base_lr == 0.1
    assert optimizer.lr == pytest.approx(0.01)  # warm-up starts at lr / 10


def test_make_schedule_warmup_alone():
    config = TrainConfig(lr=0.1, warmup_epochs=3)
    optimizer = make_optimizer(config)
    schedule = make_schedule(config, optimizer)
    assert type(schedule) is LinearWarmup
    assert (schedule.start_factor, schedule.total_iters, schedule.base_lr) == (0.1, 3, 0.1)
    assert optimizer.lr == pytest.approx(0.01)


def test_make_schedule_plateau():
    config = TrainConfig(lr=0.1, schedule="plateau", gamma=0.3)
    optimizer = make_optimizer(config)
    schedule = make_schedule(config, optimizer)
    assert type(schedule) is ReduceLROnPlateau
    assert schedule.factor == 0.3 and schedule.optimizer is optimizer
    assert schedule.mode == "min"
    assert optimizer.lr == 0.1


# -- round trip ---------------------------------------------------------------------------


def test_train_config_round_trips_through_asdict_and_json():
    config = TrainConfig(epochs=3, batch_size=16, optimizer="sgd", lr=0.05, momentum=0.9,
                         weight_decay=1e-4, schedule="cosine", warmup_epochs=1, clip_norm=1.5,
                         validation_fraction=0.2, patience=2, seed=7, threads=1)
    assert TrainConfig(**dataclasses.asdict(config)) == config
    assert TrainConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    assert TrainConfig(**dataclasses.asdict(TrainConfig())) == TrainConfig()


def test_model_config_round_trips_through_asdict_and_json():
    config = ModelConfig(input_size=5, output_size=3, hidden_size=6, num_layers=2, cell="gru",
                         bidirectional=True, dropout=0.25, tokens="embedding", embedding_dim=4,
                         head="mean", loss="mse", gate_activation="hard_sigmoid",
                         forget_bias=1.0, dtype="float64")
    assert ModelConfig(**dataclasses.asdict(config)) == config
    assert ModelConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    assert ModelConfig(**dataclasses.asdict(ModelConfig())) == ModelConfig()


def test_defaults_are_the_articles():
    train, model = TrainConfig(), ModelConfig()
    assert (train.optimizer, train.lr, train.batch_size) == ("adam", 1e-3, 128)
    assert (model.input_size, model.hidden_size, model.output_size) == (28, 128, 10)
    assert (model.cell, model.head, model.loss) == ("lstm", "last", "cross_entropy")
    assert math.isclose(train.validation_fraction, 0.1)
