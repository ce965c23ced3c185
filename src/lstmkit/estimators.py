"""scikit-learn style estimators: hyperparameters in __init__, fit returns self, fitted
attributes end in _, get_params / set_params, clone, Pipeline, GridSearchCV and joblib.

SequenceEstimator is the base every task's estimator shares: it turns the hyperparameters
into a ModelConfig and a TrainConfig, splits the validation set off the training data,
and trains with train.loop.Trainer, writing a run directory when asked.

Inputs X, for every estimator:
- an array (N, T, D) of N sequences of T steps with D features;
- a list of N arrays (T_i, D) of different lengths (padded on the right, lengths kept);
- a 2-D array (N, T * D) with n_steps=T set, so the estimator fits a Pipeline after a scaler.
Values are converted to float32, the models' dtype.
"""

from dataclasses import fields

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from lstmkit.core.losses import log_softmax
from lstmkit.train.config import TrainConfig
from lstmkit.train.loop import Data, Trainer, split_validation
from lstmkit.train.model import ModelConfig, SequenceModel
from lstmkit.train.rundir import RunDir


def as_sequences(X, n_steps=None):
    """(X (N, T, D) float32, lengths (N,) or None) from any of the accepted forms of X."""
    X, lengths = _as_array(X, n_steps)
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; clean or impute it before fitting")
    return X, lengths


def _as_array(X, n_steps):
    if isinstance(X, (list, tuple)):
        if not X:
            raise ValueError("X is an empty list; give at least one sequence")
        arrays = [np.asarray(x, dtype=np.float32) for x in X]
        if any(a.ndim != 2 for a in arrays) or len({a.shape[1] for a in arrays}) != 1:
            raise ValueError("a list X must hold 2-D arrays (T_i, D) with the same D")
        lengths = np.array([len(a) for a in arrays])
        if lengths.min() == 0:
            raise ValueError(f"sequence {int(np.argmin(lengths))} of X is empty; every "
                             "sequence needs at least one step")
        padded = np.zeros((len(arrays), lengths.max(), arrays[0].shape[1]), np.float32)
        for n, a in enumerate(arrays):
            padded[n, :len(a)] = a
        return padded, lengths
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        if n_steps is None:
            raise ValueError(f"X is 2-D {X.shape}: set n_steps to read each row as n_steps "
                             "steps, or give X as (N, T, D)")
        if X.shape[1] % n_steps:
            raise ValueError(f"X has {X.shape[1]} columns, not a multiple of n_steps={n_steps}")
        return X.reshape(len(X), n_steps, -1), None
    if X.ndim != 3:
        raise ValueError(f"X has shape {X.shape}; expected (N, T, D), a list of (T_i, D) "
                         "arrays, or (N, T*D) with n_steps")
    return X, None


class SequenceEstimator(BaseEstimator):
    """The shared base: configs from hyperparameters, validation split, training loop."""

    _head = "last"
    _loss = "cross_entropy"

    def configs(self, input_size, output_size):
        """(ModelConfig, TrainConfig) from the hyperparameters; a bad value raises here."""
        model_options = {f.name: getattr(self, f.name) for f in fields(ModelConfig)
                         if hasattr(self, f.name)}
        model_config = ModelConfig(input_size=input_size, output_size=output_size,
                                   head=self._head, loss=self._loss, **model_options)
        train_config = TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)
                                      if hasattr(self, f.name)})
        return model_config, train_config

    def _fit_data(self, data, output_size, run_dir=None, resume=False):
        """Build the model, train it on data (validation split off), set model_ and history_."""
        model_config, train_config = self.configs(data.X.shape[2], output_size)
        model = SequenceModel(model_config, seed=train_config.seed)
        run = RunDir(run_dir).create() if run_dir is not None else None
        trainer = Trainer(model, train_config, checkpoint=run.checkpoint if run else None,
                          progress=self.verbose > 0,
                          echo=print if self.verbose > 0 else (lambda *_: None))
        if resume:
            if run is None:
                raise ValueError("resume needs the run directory to resume from")
            trainer.resume()
        train, validation = split_validation(data, train_config.validation_fraction,
                                             train_config.seed)
        try:
            trainer.fit(train, validation)
        finally:
            if run is not None:
                run.write_history(trainer.history)
        self.model_, self.history_, self.stopped_ = model, trainer.history, trainer.stopped
        return self

    def _output(self, X):
        X, lengths = as_sequences(X, self.n_steps)
        check_is_fitted(self, "model_")
        return self.model_.predict(X, lengths=lengths, batch_size=512)


class SequenceClassifier(ClassifierMixin, SequenceEstimator):
    """An LSTM (or GRU, peephole, coupled) sequence classifier: dense head on the last step.

    Defaults are the article's MNIST model: one LSTM layer of 128 units, Adam at 1e-3,
    batch 128. Every ModelConfig and TrainConfig field named here passes through unchanged.
    """

    def __init__(self, cell="lstm", hidden_size=128, num_layers=1, bidirectional=False,
                 dropout=0.0, forget_bias=None, optimizer="adam", lr=1e-3, momentum=0.0,
                 weight_decay=0.0, schedule="constant", step_size=5, gamma=0.1, warmup_epochs=0,
                 batch_size=128, epochs=10, clip_norm=None, validation_fraction=0.1,
                 patience=None, seed=0, threads=None, n_steps=None, verbose=1):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.forget_bias = forget_bias
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.step_size = step_size
        self.gamma = gamma
        self.warmup_epochs = warmup_epochs
        self.batch_size = batch_size
        self.epochs = epochs
        self.clip_norm = clip_norm
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.n_steps = n_steps
        self.verbose = verbose

    def fit(self, X, y, *, run_dir=None, resume=False):
        """Train on sequences X and labels y (any values; classes_ holds them sorted)."""
        X3, lengths = as_sequences(X, self.n_steps)
        y = np.asarray(y)
        if y.shape != (len(X3),):
            raise ValueError(f"y has shape {y.shape}, expected ({len(X3)},): one label per "
                             "sequence")
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds {len(self.classes_)} class(es) {self.classes_.tolist()}; "
                             "a classifier needs two or more")
        if self.n_steps is not None:
            self.n_features_in_ = X3.shape[1] * X3.shape[2]
        return self._fit_data(Data(X3, y_index, lengths), len(self.classes_), run_dir, resume)

    def predict_proba(self, X):
        """Class probabilities (N, n_classes), columns in the order of classes_."""
        return np.exp(log_softmax(self._output(X)))

    def predict(self, X):
        """The most probable class of each sequence."""
        output = self._output(X)  # first: it says so when the classifier is not fitted
        return self.classes_[output.argmax(axis=1)]
