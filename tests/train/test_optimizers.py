"""The optimizers against torch.optim, step by step, and their state through a checkpoint."""

import numpy as np
import pytest
import torch

from lstmkit.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    save_checkpoint,
    unflatten_state,
)
from lstmkit.train.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

SHAPES = {"l0.W_x": (5, 12), "l0.W_h": (3, 12), "l0.b": (12,), "head.W": (3, 2, 2)}

CASES = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-2}),
    (Adam, {}),
    (Adam, {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 0.1, "weight_decay": 0.1}),  # eps matters
    (Adam, {"lr": 1e-2, "weight_decay": 0.05, "amsgrad": True}),
    (AdamW, {}),
    (AdamW, {"lr": 1e-2, "betas": (0.85, 0.995), "weight_decay": 0.1, "amsgrad": True}),
    (RMSprop, {}),
    (RMSprop, {"lr": 1e-3, "alpha": 0.9, "momentum": 0.9}),
    (RMSprop, {"lr": 1e-3, "centered": True, "weight_decay": 1e-2}),
    (RMSprop, {"lr": 1e-3, "alpha": 0.95, "eps": 0.1, "momentum": 0.5, "centered": True}),
    (Adagrad, {}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 1e-2, "eps": 0.1}),
    (Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.5}),
]
IDS = [
    f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
    for cls, kw in CASES
]


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-8))


def random_arrays(rng: np.random.Generator, dtype) -> dict[str, np.ndarray]:
    return {key: rng.standard_normal(shape).astype(dtype) for key, shape in SHAPES.items()}


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_matches_torch_step_by_step(cls, kwargs, dtype, tol):
    rng = np.random.default_rng(0)
    params = random_arrays(rng, dtype)
    arrays_before = dict(params)
    torch_params = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    opt = cls(**kwargs)
    torch_opt = getattr(torch.optim, cls.__name__)(
        list(torch_params.values()), foreach=False, **kwargs
    )
    for step in range(20):
        if step == 10:  # a schedule changing lr mid-run
            opt.lr *= 0.5
            torch_opt.param_groups[0]["lr"] *= 0.5
        grads = random_arrays(rng, dtype)
        grads_before = {k: g.copy() for k, g in grads.items()}
        for key, p in torch_params.items():
            p.grad = torch.from_numpy(grads[key].copy())
        torch_opt.step()
        opt.step(params, grads)
        for key, p in params.items():
            assert p is arrays_before[key] and p.dtype == dtype
            assert np.array_equal(grads[key], grads_before[key])
            error = rel_error(p, torch_params[key].detach().numpy())
            assert error < tol, f"step {step + 1}, {key}: relative error {error:.2e}"


@pytest.mark.parametrize(("cls", "kwargs"), CASES, ids=IDS)
def test_state_through_checkpoint_continues_identically(cls, kwargs, tmp_path):
    rng = np.random.default_rng(1)
    params = random_arrays(rng, np.float32)
    opt = cls(**kwargs)
    for _ in range(7):
        opt.step(params, random_arrays(rng, np.float32))
    opt.lr *= 0.3  # as a schedule would have
    arrays, tree = flatten_state({"params": params, "optimizer": opt.state_dict()})
    save_checkpoint(tmp_path / "run.npz", arrays, {"state": tree})
    loaded_arrays, meta = load_checkpoint(tmp_path / "run.npz")
    state = unflatten_state(loaded_arrays, meta["state"])
    resumed_params = state["params"]
    resumed = cls(**kwargs)
    resumed.load_state_dict(state["optimizer"])
    assert resumed.lr == opt.lr
    for _ in range(5):
        grads = random_arrays(rng, np.float32)
        opt.step(params, grads)
        resumed.step(resumed_params, grads)
        for key, p in params.items():
            assert resumed_params[key].dtype == p.dtype
            assert np.array_equal(resumed_params[key], p)


def test_state_dict_holds_copies_and_plain_scalars():
    params = random_arrays(np.random.default_rng(2), np.float32)
    opt = Adam(amsgrad=True)
    opt.step(params, random_arrays(np.random.default_rng(3), np.float32))
    state = opt.state_dict()
    assert state["lr"] == 1e-3 and state["t"] == 1
    assert sorted(state) == sorted(
        ["lr", "t"]
        + [f"{b}.{k}" for b in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") for k in SHAPES]
    )
    state["exp_avg.l0.b"][:] = 7.0
    assert not np.any(opt.exp_avg["l0.b"] == 7.0)


@pytest.mark.parametrize(
    ("saved", "loader", "match"),
    [
        (Adam(amsgrad=True), Adam(), "unknown entry 'max_exp_avg_sq"),
        (Adam(), Adam(amsgrad=True), "lacks some of the buffers"),
        (SGD(momentum=0.9), Adam(), r"lacks \['t'\]"),
        (RMSprop(centered=True), RMSprop(), "unknown entry 'grad_avg"),
    ],
    ids=["amsgrad-into-adam", "adam-into-amsgrad", "sgd-into-adam", "centered-into-plain"],
)
def test_load_state_dict_refuses_other_settings(saved, loader, match):
    rng = np.random.default_rng(4)
    params = random_arrays(rng, np.float32)
    saved.step(params, random_arrays(rng, np.float32))
    with pytest.raises(ValueError, match=match):
        loader.load_state_dict(saved.state_dict())


def test_step_refuses_mismatched_keys():
    params = random_arrays(np.random.default_rng(5), np.float32)
    grads = dict(params)
    del grads["l0.b"]
    with pytest.raises(ValueError, match=r"only in params: \['l0.b'\]"):
        SGD(lr=0.1).step(params, grads)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (SGD, {"lr": 0.1, "nesterov": True}, "nesterov"),
        (SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "nesterov"),
        (SGD, {"lr": -1.0}, "lr must be >= 0"),
        (Adam, {"betas": (0.9, 1.0)}, "betas"),
        (RMSprop, {"eps": -1e-8}, "eps must be >= 0"),
    ],
)
def test_invalid_hyperparameters_are_refused(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)
