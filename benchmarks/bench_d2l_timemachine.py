"""Dive into Deep Learning 1.0's LSTM on The Time Machine, in lstmkit and in PyTorch, side by side.

    python benchmarks/bench_d2l_timemachine.py [--threads 1] [--epochs 50] [--seed 0]

d2l's setup (chapter 10.1, "Long Short-Term Memory"), rebuilt on both engines with its data
pipeline: the text reduced to lower-case letters and space (28 symbols with the unknown
one), every window of 32 + 1 characters, the first 10,000 windows for training (shuffled,
batches of 1,024) and the next 5,000 for validation; one-hot input, one LSTM layer of 32
units, a dense output layer, SGD at learning rate 4, gradients clipped to norm 1, 50
epochs, each window starting from the zero state. lstmkit trains with its Trainer on
those windows (head "every"); PyTorch with nn.LSTM + nn.Linear as d2l's concise version,
both from torch's initialisation distribution, same thread count. Writes
benchmarks/results/text-d2l-timemachine.json: per engine the validation perplexity
(exp of the mean loss over all validation characters) per epoch and the wall time.
"""

import argparse
import json
import math
import platform
import sys
import time

import numpy as np
import torch
from common import ROOT, SHARED, git_sha
from torch import nn

from lstmkit.data.text import Vocabulary, letters_only, read_text
from lstmkit.train.config import TrainConfig
from lstmkit.train.loop import Data, Trainer
from lstmkit.train.model import ModelConfig, SequenceModel
from lstmkit.train.threads import set_threads

BOOK = SHARED / "timemachine" / "timemachine.txt"
STEPS, HIDDEN, LR, CLIP, BATCH, N_TRAIN, N_VAL = 32, 32, 4.0, 1.0, 1024, 10_000, 5_000


def windows():
    """(train, validation, vocabulary size): d2l.TimeMachine's windows as (X, Y) id arrays."""
    text = letters_only(read_text(BOOK))
    vocabulary = Vocabulary(text)
    ids = vocabulary.encode(text)
    starts = np.arange(N_TRAIN + N_VAL)[:, None] + np.arange(STEPS + 1)  # (W, 33)
    array = ids[starts]
    X, Y = array[:, :-1], array[:, 1:]
    return (X[:N_TRAIN], Y[:N_TRAIN]), (X[N_TRAIN:], Y[N_TRAIN:]), len(vocabulary)


def run_lstmkit(train, validation, vocab, epochs, seed):
    model = SequenceModel(ModelConfig(input_size=vocab, output_size=vocab, hidden_size=HIDDEN,
                                      tokens="onehot", head="every"), seed=seed)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, optimizer="sgd", lr=LR,
                         clip_norm=CLIP, validation_fraction=0.0, seed=seed)
    start = time.perf_counter()
    trainer = Trainer(model, config, progress=False, echo=lambda *_: None)
    trainer.fit(Data(*train), Data(*validation))
    return {"wall_s": time.perf_counter() - start,
            "val_perplexity": [math.exp(row["val_loss"]) for row in trainer.history],
            "train_perplexity": [math.exp(row["train_loss"]) for row in trainer.history]}


class TorchLM(nn.Module):
    """d2l's concise RNNLM: one-hot input, nn.LSTM, a linear output layer."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab
        self.rnn = nn.LSTM(vocab, HIDDEN, batch_first=True)
        self.linear = nn.Linear(HIDDEN, vocab)

    def forward(self, X):
        outputs, _ = self.rnn(nn.functional.one_hot(X, self.vocab).float())
        return self.linear(outputs)


def run_torch(train, validation, vocab, epochs, seed):
    torch.manual_seed(seed)
    model = TorchLM(vocab)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    X, Y = (torch.tensor(a) for a in train)
    X_val, Y_val = (torch.tensor(a) for a in validation)
    generator = torch.Generator().manual_seed(seed)
    history = {"val_perplexity": [], "train_perplexity": []}
    start = time.perf_counter()
    for _ in range(epochs):
        total = 0.0
        for index in torch.randperm(len(X), generator=generator).split(BATCH):
            loss = nn.functional.cross_entropy(model(X[index]).reshape(-1, vocab),
                                               Y[index].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            optimizer.step()
            total += loss.item() * len(index)
        with torch.no_grad():
            val = nn.functional.cross_entropy(model(X_val).reshape(-1, vocab), Y_val.reshape(-1))
        history["train_perplexity"].append(math.exp(total / len(X)))
        history["val_perplexity"].append(math.exp(val.item()))
    return {"wall_s": time.perf_counter() - start, **history}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    train, validation, vocab = windows()
    engines = {"lstmkit": run_lstmkit(train, validation, vocab, args.epochs, args.seed),
               "torch": run_torch(train, validation, vocab, args.epochs, args.seed)}
    result = {"command": "python benchmarks/bench_d2l_timemachine.py " + " ".join(sys.argv[1:]),
              "git_sha": git_sha(), "machine": platform.processor() or platform.machine(),
              "threads": args.threads, "epochs": args.epochs, "seed": args.seed,
              "vocabulary": vocab, "engines": engines}
    path = ROOT / "benchmarks" / "results" / "text-d2l-timemachine.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    for name, engine in engines.items():
        print(f"{name}: validation perplexity {engine['val_perplexity'][-1]:.3f} after "
              f"{args.epochs} epochs, {engine['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
