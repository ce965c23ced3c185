"""How to train: a frozen TrainConfig and the optimizer and schedule it describes."""

from dataclasses import dataclass

from lstmkit.train.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop
from lstmkit.train.schedules import (
    CosineAnnealingLR,
    LinearWarmup,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
SCHEDULES = ("constant", "step", "cosine", "plateau")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters. Defaults: the article's Adam at 1e-3, batch 128."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 128  # sequences per gradient step
    bptt_steps: int = 64  # text streams: steps per chunk, the truncated BPTT length
    optimizer: str = "adam"  # sgd | adam | adamw | rmsprop | adagrad
    lr: float = 1e-3  # learning rate (the schedule's starting value)
    momentum: float = 0.0  # sgd and rmsprop only
    weight_decay: float = 0.0  # L2 (AdamW: decoupled) weight decay
    schedule: str = "constant"  # constant | step | cosine | plateau, applied once per epoch
    step_size: int = 5  # step: epochs between two decays by gamma
    gamma: float = 0.1  # step and plateau: the decay factor
    warmup_epochs: int = 0  # linear warm-up from lr / 10 before the schedule
    clip_norm: float | None = None  # rescale gradients to this global L2 norm at most
    validation_fraction: float = 0.1  # share of the training data held out for validation
    patience: int | None = None  # early stopping: epochs without a better validation loss
    seed: int = 0  # one seed for initialisation, split, shuffling and dropout
    threads: int | None = None  # threads for BLAS, numba and torch together (None: all)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of: "
                             f"{', '.join(SCHEDULES)}")
        for name in ("epochs", "batch_size", "bptt_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in [0, 1), got "
                             f"{self.validation_fraction}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.patience is not None and self.validation_fraction == 0:
            raise ValueError("early stopping (patience) needs validation_fraction > 0")
        if self.schedule == "plateau" and self.validation_fraction == 0:
            raise ValueError("schedule 'plateau' needs validation_fraction > 0")
        if self.schedule == "plateau" and self.warmup_epochs:
            raise ValueError("warmup_epochs does not combine with schedule 'plateau'")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise ValueError(f"momentum applies to sgd and rmsprop, not {self.optimizer}")


def make_optimizer(config: TrainConfig):
    """The optimizer the config names, with its lr, momentum and weight decay."""
    options = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer in ("sgd", "rmsprop"):
        options["momentum"] = config.momentum
    return OPTIMIZERS[config.optimizer](**options)


def make_schedule(config: TrainConfig, optimizer):
    """The per-epoch schedule (None for a constant rate), after warmup_epochs of warm-up."""
    main = None
    decay_epochs = max(config.epochs - config.warmup_epochs, 1)
    if config.schedule == "step":
        main = StepLR(optimizer, config.step_size, config.gamma)
    elif config.schedule == "cosine":
        main = CosineAnnealingLR(optimizer, decay_epochs)
    elif config.schedule == "plateau":
        return ReduceLROnPlateau(optimizer, factor=config.gamma, patience=2)
    if not config.warmup_epochs:
        return main
    warmup = LinearWarmup(optimizer, start_factor=0.1, total_iters=config.warmup_epochs)
    if main is None:
        return warmup
    return SequentialLR([warmup, main], milestones=[config.warmup_epochs])
