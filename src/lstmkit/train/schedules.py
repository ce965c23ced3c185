"""Learning-rate schedules with torch.optim.lr_scheduler's values (PyTorch 2.13).

A schedule takes an optimizer, records its lr as base_lr, sets lr to the value of epoch 0
when built, and moves lr to the next value at each step(), called after each epoch (or
optimizer step, if the schedule counts those):

    opt = Adam(lr=1e-3)
    schedule = SequentialLR([LinearWarmup(opt, 0.1, 5), CosineAnnealingLR(opt, 95)], [5])
    for epoch in range(100):
        train_one_epoch(opt)
        schedule.step()

StepLR, CosineAnnealingLR, LinearWarmup and SequentialLR compute lr in closed form from
base_lr and their epoch counter, where torch mostly updates lr recursively; the two agree
to rounding (torch's recursion drifts by about 1e-14 relative over hundreds of steps; the
closed form does not). The one difference in kind: torch's recursive forms multiply
whatever lr holds, so a change made to lr from outside carries on; here the next step()
overwrites it. ReduceLROnPlateau reads and lowers lr itself, as torch's does.
"""

import math
from bisect import bisect_right
from typing import Literal

from lstmkit.train.optimizers import Optimizer


class _ClosedForm:
    """A schedule whose lr is a function of base_lr and its epoch counter: subclasses give _lr."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        optimizer.lr = self._lr(0, self.base_lr)

    def _lr(self, epoch: int, base_lr: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self._lr(self.last_epoch, self.base_lr)

    def state_dict(self) -> dict[str, float | int]:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore base_lr and the epoch counter, and set the optimizer's lr to match them."""
        self.base_lr = float(state["base_lr"])
        self.last_epoch = int(state["last_epoch"])
        self.optimizer.lr = self._lr(self.last_epoch, self.base_lr)


class StepLR(_ClosedForm):
    """Decay by gamma every step_size epochs (torch.optim.lr_scheduler.StepLR).

    lr = base_lr * gamma ** (epoch // step_size)
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def _lr(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(_ClosedForm):
    """Cosine annealing from base_lr to eta_min over t_max epochs, without restarts
    (Loshchilov and Hutter, SGDR, 2017; torch.optim.lr_scheduler.CosineAnnealingLR, whose
    T_max is t_max here).

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2

    After t_max epochs lr climbs back along the same cosine, as torch's does.
    """

    def __init__(self, optimizer: Optimizer, t_max: int, eta_min: float = 0.0) -> None:
        if t_max < 1:
            raise ValueError(f"t_max must be >= 1, got {t_max}")
        self.t_max = t_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def _lr(self, epoch: int, base_lr: float) -> float:
        cosine = 1 + math.cos(math.pi * epoch / self.t_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2


class LinearWarmup(_ClosedForm):
    """Linear warm-up from start_factor * base_lr to base_lr over total_iters epochs
    (torch.optim.lr_scheduler.LinearLR with end_factor=1, the same defaults otherwise).

        lr = base_lr * (start_factor + (1 - start_factor) * min(epoch, total_iters) / total_iters)
    """

    def __init__(
        self, optimizer: Optimizer, start_factor: float = 1 / 3, total_iters: int = 5
    ) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must lie in (0, 1], got {start_factor}")
        if total_iters < 1:
            raise ValueError(f"total_iters must be >= 1, got {total_iters}")
        self.start_factor = start_factor
        self.total_iters = total_iters
        super().__init__(optimizer)

    def _lr(self, epoch: int, base_lr: float) -> float:
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (1 - self.start_factor) * progress)


class SequentialLR(_ClosedForm):
    """Run schedules one after another, switching at the milestone epochs
    (torch.optim.lr_scheduler.SequentialLR).

    schedules[k] runs from epoch milestones[k-1] (0 for k = 0) with its own epoch counting
    from 0 there; every schedule starts from the first one's base_lr, the lr the optimizer
    had before the schedules were built, if schedules[0] was built first (a schedule records
    the optimizer's lr when built, and a warm-up lowers it). The schedules serve only as
    formulas: step (and save) the SequentialLR, not them. The common case is a warm-up then a decay:
    SequentialLR([LinearWarmup(opt, 0.1, 5), CosineAnnealingLR(opt, 95)], milestones=[5]).
    """

    def __init__(self, schedules: list[_ClosedForm], milestones: list[int]) -> None:
        if len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"SequentialLR needs one milestone fewer than schedules, got "
                f"{len(schedules)} schedules and {len(milestones)} milestones"
            )
        if list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {milestones}")
        for schedule in schedules:
            if not isinstance(schedule, _ClosedForm):
                raise TypeError(
                    f"SequentialLR takes StepLR, CosineAnnealingLR, LinearWarmup or "
                    f"SequentialLR, got {type(schedule).__name__}"
                )
            if schedule.optimizer is not schedules[0].optimizer:
                raise ValueError("all schedules of a SequentialLR must share one optimizer")
        self.schedules = list(schedules)
        self.milestones = list(milestones)
        optimizer = schedules[0].optimizer
        optimizer.lr = schedules[0].base_lr  # undo what building the schedules set
        super().__init__(optimizer)

    def _lr(self, epoch: int, base_lr: float) -> float:
        k = bisect_right(self.milestones, epoch)
        start = self.milestones[k - 1] if k else 0
        return self.schedules[k]._lr(epoch - start, base_lr)


class ReduceLROnPlateau:
    """Lower lr by factor when a metric has stopped improving for patience epochs
    (torch.optim.lr_scheduler.ReduceLROnPlateau).

    After each epoch, step(metric):
        better  = metric < best * (1 - threshold)   mode "min", threshold_mode "rel"
                  metric < best - threshold         mode "min", threshold_mode "abs"
                  metric > best * (1 + threshold)   mode "max", threshold_mode "rel"
                  metric > best + threshold         mode "max", threshold_mode "abs"
        best, bad_epochs = (metric, 0) if better else (best, bad_epochs + 1)
        during cooldown (cooldown epochs after a reduction): cooldown_counter - 1, bad_epochs = 0
        if bad_epochs > patience:
            new_lr = max(lr * factor, min_lr);  lr = new_lr if lr - new_lr > eps
            cooldown_counter = cooldown;  bad_epochs = 0
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,  # smallest change of lr worth making
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if factor >= 1.0:
            raise ValueError(f"factor must be < 1, got {factor}")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.eps = eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, metric: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return metric < self.best * (1 - self.threshold)
        if self.mode == "min":
            return metric < self.best - self.threshold
        if self.threshold_mode == "rel":
            return metric > self.best * (1 + self.threshold)
        return metric > self.best + self.threshold

    def step(self, metric: float) -> None:
        metric = float(metric)
        self.last_epoch += 1
        if self._is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new_lr > self.eps:
                self.optimizer.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def state_dict(self) -> dict[str, float | int]:
        return {
            "last_epoch": self.last_epoch,
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
        }

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Restore the counters and the best metric (lr itself is the optimizer's state)."""
        self.last_epoch = int(state["last_epoch"])
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
