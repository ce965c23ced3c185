"""Learning-rate schedules against torch.optim.lr_scheduler, and their state in a checkpoint."""

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from lstmkit.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    save_checkpoint,
    unflatten_state,
)
from lstmkit.train.optimizers import SGD, Adam
from lstmkit.train.schedules import (
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

BASE_LR = 0.1
STEPS = 40

# (ours, torch's), each built from an optimizer
CLOSED_FORMS = {
    "step-7-0.5": (
        lambda o: StepLR(o, step_size=7, gamma=0.5),
        lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    ),
    "step-3-default": (
        lambda o: StepLR(o, step_size=3),
        lambda o: lr_scheduler.StepLR(o, step_size=3),
    ),
    "cosine-30": (
        lambda o: CosineAnnealingLR(o, t_max=30),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=30),
    ),
    "cosine-10-eta_min-past-t_max": (
        lambda o: CosineAnnealingLR(o, t_max=10, eta_min=1e-3),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-3),
    ),
    "warmup-0.1-8": (
        lambda o: LinearWarmup(o, start_factor=0.1, total_iters=8),
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=8),
    ),
    "warmup-defaults": (
        lambda o: LinearWarmup(o),
        lambda o: lr_scheduler.LinearLR(o),
    ),
    "warmup-then-cosine": (
        lambda o: SequentialLR(
            [LinearWarmup(o, start_factor=0.01, total_iters=5), CosineAnnealingLR(o, t_max=30)],
            milestones=[5],
        ),
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=5),
                lr_scheduler.CosineAnnealingLR(o, T_max=30),
            ],
            milestones=[5],
        ),
    ),
    "warmup-step-cosine": (
        lambda o: SequentialLR(
            [
                LinearWarmup(o, start_factor=0.2, total_iters=6),
                StepLR(o, step_size=3, gamma=0.7),
                CosineAnnealingLR(o, t_max=12, eta_min=1e-4),
            ],
            milestones=[4, 15],
        ),
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=6),
                lr_scheduler.StepLR(o, step_size=3, gamma=0.7),
                lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=1e-4),
            ],
            milestones=[4, 15],
        ),
    ),
}

# a loss that improves, stalls, wobbles, improves a little: exercises every plateau branch
METRICS = [1.0 / (1 + k / 4) + 0.05 * np.sin(1.7 * k) ** 2 for k in range(20)]
METRICS += [0.3, 0.3, 0.31, 0.2999, 0.29, 0.3, 0.3, 0.3, 0.3, 0.28]
METRICS += [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.27, 0.3, 0.3]
PLATEAUS = [
    {},
    {"patience": 2},
    {"mode": "min", "threshold_mode": "abs", "threshold": 0.01, "patience": 1, "cooldown": 2},
    {"factor": 0.5, "patience": 0, "min_lr": 0.01},  # reaches min_lr, then eps keeps it
    {"mode": "max", "patience": 1, "factor": 0.5},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.02, "patience": 0, "cooldown": 3},
]


def torch_optimizer() -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE_LR)


def torch_lrs(make, steps: int) -> list[float]:
    opt = torch_optimizer()
    schedule = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        schedule.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def lrs(schedule, opt, steps: int) -> list[float]:
    values = [opt.lr]
    for _ in range(steps):
        schedule.step()
        values.append(opt.lr)
    return values


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_forms_match_torch(name):
    ours, theirs = CLOSED_FORMS[name]
    opt = SGD(lr=BASE_LR)
    expected = torch_lrs(theirs, STEPS)
    np.testing.assert_allclose(lrs(ours(opt), opt, STEPS), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_plateau_matches_torch(kwargs):
    opt = SGD(lr=BASE_LR)
    schedule = ReduceLROnPlateau(opt, **kwargs)
    torch_opt = torch_optimizer()
    torch_schedule = lr_scheduler.ReduceLROnPlateau(torch_opt, **kwargs)
    ours, theirs = [], []
    for metric in METRICS:
        schedule.step(metric)
        torch_schedule.step(metric)
        ours.append(opt.lr)
        theirs.append(torch_opt.param_groups[0]["lr"])
    assert ours == theirs
    assert len(set(ours)) > 1  # the case did reduce lr


def roundtrip(state: dict, tmp_path) -> dict:
    arrays, tree = flatten_state(state)
    save_checkpoint(tmp_path / "state.npz", arrays, {"state": tree})
    arrays, meta = load_checkpoint(tmp_path / "state.npz")
    return unflatten_state(arrays, meta["state"])


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_closed_form_state_through_checkpoint(name, tmp_path):
    make = CLOSED_FORMS[name][0]
    opt = SGD(lr=BASE_LR)
    schedule = make(opt)
    lrs(schedule, opt, 12)
    state = roundtrip({"schedule": schedule.state_dict()}, tmp_path)
    resumed_opt = SGD(lr=BASE_LR)
    resumed = make(resumed_opt)
    resumed.load_state_dict(state["schedule"])
    assert resumed_opt.lr == opt.lr
    assert lrs(resumed, resumed_opt, 20) == lrs(schedule, opt, 20)


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_plateau_state_through_checkpoint(kwargs, tmp_path):
    opt = SGD(lr=BASE_LR)
    schedule = ReduceLROnPlateau(opt, **kwargs)
    for metric in METRICS[:23]:
        schedule.step(metric)
    state = roundtrip({"opt": opt.state_dict(), "schedule": schedule.state_dict()}, tmp_path)
    resumed_opt = SGD(lr=BASE_LR)
    resumed = ReduceLROnPlateau(resumed_opt, **kwargs)
    resumed_opt.load_state_dict(state["opt"])
    resumed.load_state_dict(state["schedule"])
    for metric in METRICS[23:]:
        schedule.step(metric)
        resumed.step(metric)
        assert resumed_opt.lr == opt.lr


def test_adam_with_warmup_and_cosine_matches_torch():
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 6)).astype(np.float32)}
    torch_param = torch.nn.Parameter(torch.from_numpy(params["W"].copy()))
    opt = Adam(lr=1e-2)
    schedule = SequentialLR([LinearWarmup(opt, 0.1, 5), CosineAnnealingLR(opt, 25)], [5])
    torch_opt = torch.optim.Adam([torch_param], lr=1e-2, foreach=False)
    torch_schedule = lr_scheduler.SequentialLR(
        torch_opt,
        [
            lr_scheduler.LinearLR(torch_opt, 0.1, total_iters=5),
            lr_scheduler.CosineAnnealingLR(torch_opt, 25),
        ],
        [5],
    )
    for _ in range(30):
        grad = rng.standard_normal((4, 6)).astype(np.float32)
        torch_param.grad = torch.from_numpy(grad.copy())
        torch_opt.step()
        torch_schedule.step()
        opt.step(params, {"W": grad})
        schedule.step()
        expected = torch_param.detach().numpy()
        assert np.max(np.abs(params["W"] - expected)) / np.max(np.abs(expected)) < 1e-6


def test_sequential_refuses_bad_arguments():
    opt, other = SGD(lr=BASE_LR), SGD(lr=BASE_LR)
    with pytest.raises(ValueError, match="one milestone fewer"):
        SequentialLR([StepLR(opt, 3), StepLR(opt, 3)], milestones=[])
    with pytest.raises(ValueError, match="share one optimizer"):
        SequentialLR([StepLR(opt, 3), StepLR(other, 3)], milestones=[2])
    with pytest.raises(TypeError, match="got ReduceLROnPlateau"):
        SequentialLR([StepLR(opt, 3), ReduceLROnPlateau(opt)], milestones=[2])
    with pytest.raises(ValueError, match="increasing"):
        SequentialLR([StepLR(opt, 3), StepLR(opt, 3), StepLR(opt, 3)], milestones=[5, 2])
