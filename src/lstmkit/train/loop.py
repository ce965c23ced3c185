"""The training loop: shuffled mini-batches, validation every epoch, early stopping, the
learning-rate schedule, and checkpoints that survive a diverging loss and Ctrl-C.

Every epoch ends with a checkpoint (parameters, optimizer, schedule, RNG states, history);
Ctrl-C stops after the current batch and checkpoints mid-epoch; `Trainer.resume` continues
from either, and the run goes on bit for bit as if it had not stopped: the shuffling order
of an epoch is drawn from the RNG state saved at the epoch's start, the dropout RNG and the
partial sums of the epoch's metrics are saved with the parameters.

A text Stream (data.text) trains differently: its chunks go in order, each starting from
the state the previous chunk ended in (truncated BPTT), the state starts at zero each epoch
and is saved in the checkpoint; its losses and accuracies are per target character.
"""

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from lstmkit.data.text import Stream
from lstmkit.train.checkpoint import (
    flatten_state,
    load_checkpoint,
    rng_from_state,
    save_checkpoint,
    unflatten_state,
)
from lstmkit.train.clipping import clip_grad_norm
from lstmkit.train.config import TrainConfig, make_optimizer, make_schedule
from lstmkit.train.schedules import ReduceLROnPlateau
from lstmkit.train.threads import set_threads

TIME_COLUMNS = ("epoch_time_s", "samples_per_s")  # history columns that vary run to run


class Data(NamedTuple):
    """Inputs, targets and optional lengths (right padding) of a set of sequences."""

    X: np.ndarray  # (N, T, D) features or (N, T) token ids
    y: np.ndarray  # (N,) classes or (N, ...) targets
    lengths: np.ndarray | None = None  # (N,)

    def take(self, index):
        return Data(self.X[index], self.y[index],
                    None if self.lengths is None else self.lengths[index])


class Diverged(FloatingPointError):  # noqa: N818 (reads as what happened)
    """The training loss became NaN or infinite."""


def split_validation(data: Data, fraction, seed):
    """(train, validation) with a random `fraction` of the sequences held out (None if 0)."""
    if fraction == 0:
        return data, None
    order = np.random.default_rng([seed, 2]).permutation(len(data.y))
    n_val = max(1, round(fraction * len(order)))
    if n_val >= len(order):
        raise ValueError(f"validation_fraction {fraction} leaves no training data out of "
                         f"{len(order)} sequences")
    return data.take(np.sort(order[n_val:])), data.take(np.sort(order[:n_val]))


def scored(model, output, targets, lengths):
    """(output, targets) of the predictions the loss scores: with the head "every" and
    lengths, the valid steps only, (M, C) and (M, ...); otherwise output and targets as given."""
    if model.config.head != "every" or lengths is None:
        return output, targets
    valid = np.arange(output.shape[1]) < np.asarray(lengths)[:, None]  # (N, T)
    return output[valid], np.asarray(targets)[valid]


def evaluate(model, data: Data | Stream, batch_size=512):
    """{"loss": L, "accuracy": A (cross-entropy models)} of the model on data, in eval mode.
    A Stream is read chunk by chunk with the state carried; L is the mean loss per target."""
    if isinstance(data, Stream):
        return _evaluate_stream(model, data)
    output = model.predict(data.X, lengths=data.lengths, batch_size=batch_size)
    output, targets = scored(model, output, data.y, data.lengths)
    metrics = {"loss": float(model.loss(output, targets)[0])}
    if model.config.loss == "cross_entropy":
        metrics["accuracy"] = float(np.mean(output.argmax(axis=-1) == targets))
    return metrics


def _evaluate_stream(model, stream: Stream):
    loss = correct = 0.0
    state = None
    for k in range(stream.n_chunks):
        X, y, lengths = stream.chunk(k)
        output = model.forward(X, lengths=lengths, state=state, train=False)
        state = model.final_state
        output, targets = scored(model, output, y, lengths)
        loss += float(model.loss(output, targets)[0]) * len(targets)
        correct += int(np.sum(output.argmax(axis=-1) == targets))
    return {"loss": loss / stream.n_targets, "accuracy": correct / stream.n_targets}


class Trainer:
    """Trains a SequenceModel with a TrainConfig, checkpointing to `checkpoint` (a path).
    after_epoch(model), when given, runs after each epoch's line (the text task prints a
    sample); it must leave the parameters and RNGs alone."""

    def __init__(self, model, config: TrainConfig, *, checkpoint=None, progress=True,
                 echo=print, after_epoch=None):
        self.model, self.config = model, config
        self.checkpoint, self.progress, self.echo = checkpoint, progress, echo
        self.after_epoch = after_epoch
        self.optimizer = make_optimizer(config)
        self.schedule = make_schedule(config, self.optimizer)
        self.rng = np.random.default_rng([config.seed, 1])  # shuffling
        self.history = []  # one dict per finished epoch
        self.epoch = 0  # finished epochs
        self.batch = 0  # batches done in the current epoch
        self.epoch_rng = None  # the shuffling RNG state at the current epoch's start
        self.sums = None  # the current epoch's running loss, correct and count
        self.carry = None  # a stream's state at the end of the last chunk (None: zeros)
        self.best_loss, self.bad_epochs = math.inf, 0
        self.stopped = None  # why training ended early: "early stopping" or "interrupted"
        self._stop = threading.Event()

    # -- the loop -------------------------------------------------------------------------

    def fit(self, train: Data | Stream, validation: Data | Stream | None = None):
        """Train until config.epochs are done, early stopping, or Ctrl-C. Returns self."""
        config = self.config
        if config.threads is not None:
            set_threads(config.threads)
        stream = isinstance(train, Stream)
        n = len(train.y)
        n_batches = train.n_chunks if stream else math.ceil(n / config.batch_size)
        with self._ctrl_c_stops():
            while self.epoch < config.epochs and self.stopped is None:
                if self._stop.is_set():  # Ctrl-C came between two epochs
                    self.stopped = "interrupted"
                    self.save()
                    break
                if self.batch == 0:
                    self.epoch_rng = self.rng.bit_generator.state
                    self.sums = {"loss": 0.0, "correct": 0, "count": 0, "seconds": 0.0}
                    self.carry = None
                self.rng = rng_from_state(self.epoch_rng)
                order = None if stream else self.rng.permutation(n)  # None: chunks in order
                if self._run_batches(train, order, n_batches):
                    self._end_epoch(validation)
        return self

    def _run_batches(self, train, order, n_batches):
        """Batches self.batch.. of the epoch (a stream's chunks when order is None); False if
        Ctrl-C stopped them early."""
        config, sums = self.config, self.sums
        bar = tqdm(total=n_batches, initial=self.batch, disable=not self.progress, leave=False,
                   desc=f"epoch {self.epoch + 1}/{config.epochs}", unit="batch")
        with bar:
            while self.batch < n_batches:
                start = time.perf_counter()
                if order is None:
                    loss, correct, count = self._step(Data(*train.chunk(self.batch)), carry=True)
                else:
                    index = order[self.batch * config.batch_size:
                                  (self.batch + 1) * config.batch_size]
                    loss, correct, count = self._step(train.take(index))
                sums["loss"] += loss * count
                sums["correct"] += correct
                sums["count"] += count
                sums["seconds"] += time.perf_counter() - start
                self.batch += 1
                bar.update()
                postfix = {"loss": f"{sums['loss'] / sums['count']:.4f}",
                           "samples/s": f"{sums['count'] / sums['seconds']:.0f}"}
                if self.model.config.loss == "cross_entropy":
                    postfix["acc"] = f"{sums['correct'] / sums['count']:.4f}"
                bar.set_postfix(postfix, refresh=False)
                if self._stop.is_set():
                    self.stopped = "interrupted"
                    self.save()
                    self.echo(f"interrupted at epoch {self.epoch + 1}, batch {self.batch}; "
                              "the checkpoint is saved: resume to continue")
                    return False
        return True

    def _step(self, batch: Data, carry=False):
        """One gradient step. Returns (mean loss, number of correct predictions, count): count is
        the number of sequences, or with carry=True (a stream's chunk, starting from self.carry
        and leaving its final state there) the number of target steps."""
        model, config = self.model, self.config
        count = int(batch.lengths.sum()) if carry else len(batch.y)
        output = model(batch.X, lengths=batch.lengths, state=self.carry if carry else None)
        loss, d_output = model.loss(output, batch.y)
        if not np.isfinite(loss):
            where = f" ({self.checkpoint})" if self.checkpoint else ""
            raise Diverged(f"the training loss became {loss} at epoch {self.epoch + 1}, batch "
                           f"{self.batch + 1}; the last good checkpoint{where} is kept: lower "
                           "the learning rate or set clip_norm, then resume")
        model.backward(d_output)
        if carry:
            self.carry = model.final_state
        if config.clip_norm is not None:
            clip_grad_norm(model.grads, config.clip_norm)
        self.optimizer.step(model.params, model.grads)
        correct = 0
        if model.config.loss == "cross_entropy":
            output, targets = scored(model, output, batch.y, batch.lengths)
            hits = output.argmax(axis=-1) == targets
            # head "every": the batch's share of right steps, counted per sequence like the loss
            correct = (float(hits.mean()) * count if model.config.head == "every"
                       else int(hits.sum()))
        return float(loss), correct, count

    def _end_epoch(self, validation):
        sums = self.sums
        row = {"epoch": self.epoch + 1, "lr": self.optimizer.lr,
               "train_loss": sums["loss"] / sums["count"]}
        if self.model.config.loss == "cross_entropy":
            row["train_accuracy"] = sums["correct"] / sums["count"]
        if validation is not None:
            row.update({f"val_{k}": v for k, v in evaluate(self.model, validation).items()})
        row["epoch_time_s"] = sums["seconds"]
        row["samples_per_s"] = sums["count"] / sums["seconds"]
        self.history.append(row)
        self.epoch, self.batch = self.epoch + 1, 0
        if isinstance(self.schedule, ReduceLROnPlateau):
            self.schedule.step(row["val_loss"])
        elif self.schedule is not None:
            self.schedule.step()
        if validation is not None:
            if row["val_loss"] < self.best_loss:
                self.best_loss, self.bad_epochs = row["val_loss"], 0
            else:
                self.bad_epochs += 1
            if self.config.patience is not None and self.bad_epochs >= self.config.patience:
                self.stopped = "early stopping"
        self.echo(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items()))
        if self.after_epoch is not None:
            self.after_epoch(self.model)
        self.save()

    @contextmanager
    def _ctrl_c_stops(self):
        """Ctrl-C sets the stop flag (the loop stops after its batch); a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop.is_set():
                raise KeyboardInterrupt
            self._stop.set()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._stop.clear()

    # -- checkpoints ----------------------------------------------------------------------

    def state(self):
        """Everything needed to continue: model, optimizer, schedule, RNGs, progress."""
        return {
            "params": dict(self.model.params),
            "optimizer": self.optimizer.state_dict(),
            "schedule": None if self.schedule is None else self.schedule.state_dict(),
            "rng": self.rng.bit_generator.state,
            "epoch_rng": self.epoch_rng,
            "dropout_rng": self.model.rnn.rng.bit_generator.state,
            "carry": _carry_arrays(self.carry),
            "progress": {"epoch": self.epoch, "batch": self.batch, "sums": self.sums,
                         "best_loss": self.best_loss, "bad_epochs": self.bad_epochs,
                         "stopped": self.stopped},
        }

    def save(self):
        """Write the checkpoint (atomically) if the trainer has a checkpoint path."""
        if self.checkpoint is None:
            return
        arrays, tree = flatten_state(self.state())
        meta = {"kind": "training", "model": asdict(self.model.config),
                "train": asdict(self.config), "state": tree, "history": self.history}
        save_checkpoint(self.checkpoint, arrays, meta)

    def resume(self):
        """Restore the state saved at self.checkpoint into this trainer and its model."""
        arrays, meta = load_checkpoint(self.checkpoint)
        if meta.get("kind") != "training":
            raise ValueError(f"{self.checkpoint} is not a training checkpoint")
        if meta["model"] != asdict(self.model.config) or meta["train"] != asdict(self.config):
            raise ValueError(f"{self.checkpoint} was saved with another model or training "
                             "config; resume with the run's own config")
        state = unflatten_state(arrays, meta["state"])
        for name, value in state["params"].items():
            self.model.params[name][...] = value
        self.optimizer.load_state_dict(state.get("optimizer", {}))
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        self.rng = rng_from_state(state["rng"])
        self.epoch_rng = state["epoch_rng"]
        self.model.rnn.rng = rng_from_state(state["dropout_rng"])
        self.carry = _carry_state(state.get("carry"))
        progress = state["progress"]
        self.epoch, self.batch, self.sums = progress["epoch"], progress["batch"], progress["sums"]
        self.best_loss, self.bad_epochs = progress["best_loss"], progress["bad_epochs"]
        self.stopped = None if progress["stopped"] == "interrupted" else progress["stopped"]
        self.history = meta["history"]
        return self


def _carry_arrays(carry):
    """A carried state, h or (h, c), as {"0": h[, "1": c]} for the checkpoint (None stays)."""
    if carry is None:
        return None
    return {str(i): a for i, a in enumerate(carry if isinstance(carry, tuple) else (carry,))}


def _carry_state(arrays):
    """The carried state that _carry_arrays stored: h, or (h, c)."""
    if arrays is None:
        return None
    state = tuple(arrays[str(i)] for i in range(len(arrays)))
    return state if len(state) > 1 else state[0]
