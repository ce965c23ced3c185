"""A character-level language model on a text: the embedded default, a named corpus, a file.

The model (CharLanguageModel's defaults): an embedding of 32, two LSTM layers of 128 units,
a dense layer to the next character's logits; Adam at 2e-3, gradient norm clipped at 5,
32 contiguous streams read 64 characters at a time (truncated BPTT). The first 90% of the
text trains, the last 10% validates (by position). metrics.json holds the validation loss
in nats per character, in bits per character and as a perplexity.
"""

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lstmkit.data.corpora import load_corpus
from lstmkit.data.text import Vocabulary, letters_only, read_text, split_text
from lstmkit.estimators import CharLanguageModel
from lstmkit.tasks.plots import plot_curves
from lstmkit.train.rundir import RunDir
from lstmkit.train.serialize import load

ESTIMATOR = CharLanguageModel
DEFAULTS = {}  # the estimator's


@dataclass(frozen=True)
class TextOptions:
    """Which text to learn."""

    corpus: str = "default"  # default (Lady Susan, embedded) | shakespeare | timemachine
    text: str | None = None  # a UTF-8 text file to learn instead of the corpus
    letters_only: bool = False  # lower-case letters and space only (d2l's preprocessing)


OPTIONS = TextOptions


def text_metrics(loss_nats):
    """{"loss_nats", "bits_per_char", "perplexity"} of a mean loss per character in nats."""
    return {"loss_nats": loss_nats, "bits_per_char": loss_nats / math.log(2),
            "perplexity": math.exp(loss_nats)}


def load_text(options: TextOptions, echo=print):
    """(text, source) as the options choose it, preprocessed."""
    text, source = load_corpus(options.corpus, options.text)
    if options.letters_only:
        text, source = letters_only(text), f"{source}, letters only"
    echo(f"text from {source}: {len(text):,} characters, {len(set(text))} distinct")
    return text, source


def train(params, options: TextOptions, out, *, resume=False, echo=print):
    """Fit a CharLanguageModel with params, write the run directory, return metrics."""
    start = time.perf_counter()
    ESTIMATOR(**params).configs(2, 2)  # refuse bad hyperparameters and text before writing
    text, source = load_text(options, echo)
    run = RunDir(out).create()
    if not resume:
        run.write_config({"task": "text", "estimator": params, "options": asdict(options)})
    model = ESTIMATOR(**params).fit(text, run_dir=out, resume=resume)
    config = run.read_json("config.json")
    run.write_config({**config, "vocabulary": model.vocabulary_.chars, "data_source": source})
    if model.stopped_ == "interrupted":
        echo(f"stopped; continue with: lstmkit train text --resume {out}")
        return None
    history = model.history_
    last = history[-1]
    metrics = {"train": text_metrics(last["train_loss"]),
               "epochs": len(history), "stopped": model.stopped_,
               "wall_time_s": time.perf_counter() - start,
               "chars_per_s": sum(r["samples_per_s"] for r in history) / len(history)}
    if "val_loss" in last:
        metrics["validation"] = text_metrics(last["val_loss"])
    run.write_json("metrics.json", metrics)
    plot_curves(history, run.path / "curves.png")
    (run.path / "sample.txt").write_text(model.sample(text[:1], 500, 0.8, seed=0) + "\n")
    scored = metrics.get("validation", metrics["train"])
    echo(f"{'validation' if 'validation' in metrics else 'training'} loss "
         f"{scored['loss_nats']:.4f} nats/char, {scored['bits_per_char']:.4f} bits/char, "
         f"perplexity {scored['perplexity']:.3f}; {metrics['wall_time_s']:.0f} s")
    echo(f"run directory {out}: metrics.json, history.csv, checkpoint {run.checkpoint.name}, "
         "curves.png, sample.txt")
    return metrics


def load_run(out):
    """(the fitted CharLanguageModel, config.json) of a finished or stopped text run."""
    run = RunDir(out)
    config = run.read_json("config.json")
    if "vocabulary" not in config:
        raise ValueError(f"{out} holds no vocabulary yet: its first training has not ended; "
                         f"resume it with lstmkit train text --resume {out}")
    model = ESTIMATOR(**config["estimator"])
    model.model_ = load(run.checkpoint)
    model.vocabulary_ = Vocabulary.from_list(config["vocabulary"])
    return model, config


def evaluate_run(out, echo=print):
    """The run's validation metrics, computed once more from its text."""
    model, config = load_run(out)
    text, _ = load_text(TextOptions(**config["options"]), echo)
    validation = split_text(text, model.validation_fraction)[1]
    if not validation:
        raise ValueError(f"{out} was trained with validation_fraction 0: it has no validation "
                         "text; score a file with lstmkit predict RUN_DIR FILE")
    metrics = text_metrics(model.cross_entropy(validation))
    echo(f"validation: {metrics['loss_nats']:.4f} nats/char, {metrics['bits_per_char']:.4f} "
         f"bits/char, perplexity {metrics['perplexity']:.3f} ({len(validation):,} characters)")
    return metrics


def predict_file(out, path, echo=print):
    """The run's loss, bits per character and perplexity on a UTF-8 text file."""
    model, _ = load_run(out)
    metrics = text_metrics(model.cross_entropy(read_text(path)))
    echo(f"{Path(path).name}: {metrics['loss_nats']:.4f} nats/char, "
         f"{metrics['bits_per_char']:.4f} bits/char, perplexity {metrics['perplexity']:.3f}")
    return metrics


def sample_run(out, prime, length, temperature, top_k=None, seed=None, echo=print):
    """Text from the run's model: prime and `length` characters drawn after it."""
    model, _ = load_run(out)
    text = model.sample(prime, length, temperature, top_k, seed)
    echo(text)
    return text
