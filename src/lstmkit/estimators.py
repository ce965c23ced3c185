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

import math
from dataclasses import fields

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from lstmkit.baselines import LinearAutoregression, persistence, seasonal_persistence
from lstmkit.core.losses import log_softmax
from lstmkit.data import series
from lstmkit.data.text import Vocabulary, check_length, make_stream, split_text
from lstmkit.train.config import TrainConfig
from lstmkit.train.loop import Data, Trainer, evaluate, split_validation
from lstmkit.train.model import ModelConfig, SequenceModel
from lstmkit.train.rundir import RunDir
from lstmkit.train.threads import set_threads


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
        model_options = {"head": self._head, "loss": self._loss}  # unless a hyperparameter
        model_options.update({f.name: getattr(self, f.name) for f in fields(ModelConfig)
                              if hasattr(self, f.name)})
        model_config = ModelConfig(input_size=input_size, output_size=output_size,
                                   **model_options)
        train_config = TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)
                                      if hasattr(self, f.name)})
        return model_config, train_config

    def _fit_data(self, data, output_size, run_dir=None, resume=False, validation=None, *,
                  input_size=None, after_epoch=None):
        """Build the model, train it on data (validation split off, unless given), set model_
        and history_. input_size: the model's (default: data's D); after_epoch(model) runs
        after each epoch when verbose."""
        model_config, train_config = self.configs(input_size or data.X.shape[2], output_size)
        model = SequenceModel(model_config, seed=train_config.seed)
        run = RunDir(run_dir).create() if run_dir is not None else None
        trainer = Trainer(model, train_config, checkpoint=run.checkpoint if run else None,
                          progress=self.verbose > 0,
                          echo=print if self.verbose > 0 else (lambda *_: None),
                          after_epoch=after_epoch if self.verbose > 0 else None)
        if resume:
            if run is None:
                raise ValueError("resume needs the run directory to resume from")
            trainer.resume()
        train = data
        if validation is None:
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


class Forecaster(RegressorMixin, SequenceEstimator):
    """An LSTM that forecasts one target column `horizon` rows ahead from the last `lookback`
    rows of every feature column (all columns when features is None; non-numeric ones are
    one-hot encoded with the categories seen in fit).

    fit(frame) takes a DataFrame or a (T, F) array, rows in time order, and fits everything
    on it alone: the scalers (scale: standard | minmax | none), the fill values, the
    categories, the LSTM, and the linear baseline on the LSTM's own training windows. The
    last validation_fraction of the rows is the validation period (windows whose targets
    all lie in it); training windows have all their targets before it. data.series states
    the missing-value rule. predict / predict_interval / baselines / windows return one row
    per window of the frame they are given (origins lookback-1 .. T-1), in real units.

    With difference (the default) the LSTM forecasts the change from the target's last
    known value, y(t+k) - y(t), so that persistence is its zero; the target scaler is fitted
    on what the LSTM forecasts, in the training windows. The prediction interval is the
    validation residuals' empirical (1 - interval) / 2 and (1 + interval) / 2 quantiles, per
    step ahead, added to the forecast (the training residuals when validation_fraction is
    0). season (rows) enables the seasonal persistence baseline. score is -RMSE (greater is
    better, as in scikit-learn).
    """

    _head = "last"

    def __init__(self, lookback, horizon, target, features=None, season=None, interval=0.9,
                 difference=True, scale="standard", loss="mse", cell="lstm", hidden_size=64,
                 num_layers=1, bidirectional=False, dropout=0.0, forget_bias=None,
                 optimizer="adam", lr=1e-3, momentum=0.0, weight_decay=0.0, schedule="constant",
                 step_size=5, gamma=0.1, warmup_epochs=0, batch_size=64, epochs=30, clip_norm=None,
                 validation_fraction=0.1, patience=None, seed=0, threads=None, verbose=1):
        self.lookback = lookback
        self.horizon = horizon
        self.target = target
        self.features = features
        self.season = season
        self.interval = interval
        self.difference = difference
        self.scale = scale
        self.loss = loss
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
        self.verbose = verbose

    def fit(self, frame, *, run_dir=None, resume=False):
        """Fit scalers, categories, the LSTM and the linear baseline on frame. Returns self."""
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")
        if self.loss not in ("mse", "mae"):
            raise ValueError(f"a Forecaster's loss is mse or mae, got {self.loss!r}")
        table = series.as_frame(frame)
        features, categorical = series.check_columns(table, self.target, self.features)
        self.categories_ = series.categories(table, categorical)
        values, self.input_columns_ = series.encode(table, features, self.categories_)
        self.scaler_ = series.fit_scaler(values, self.scale)
        self.fill_ = np.nanmean(values, axis=0)
        data = self.windows(table)
        known = ~np.isnan(data.y).any(axis=1) & ~np.isnan(data.last)
        cut = len(table) - round(self.validation_fraction * len(table))
        train = known & series.targets_within(data.origin, self.horizon, 0, cut)
        held_out = known & series.targets_within(data.origin, self.horizon, cut, len(table))
        if self.validation_fraction and not held_out.any():
            raise ValueError(f"no window has its targets in the last {self.validation_fraction:.0%}"
                             f" of the {len(table)} rows: lower lookback or give more rows")
        if not train.any():
            raise ValueError(f"no training window: {len(table)} rows give none with "
                             f"lookback={self.lookback}, horizon={self.horizon} and known "
                             "targets before the validation period")
        change = data.y - data.last[:, None] if self.difference else data.y
        self.target_scaler_ = series.fit_scaler(change[train].reshape(-1, 1), self.scale)
        scaled = self.target_scaler_.transform(change.reshape(-1, 1)).reshape(change.shape)
        self.linear_ = LinearAutoregression().fit(data.X[train], data.y[train])
        validation = Data(data.X[held_out], scaled[held_out]) if held_out.any() else None
        self._fit_data(Data(data.X[train], scaled[train]), self.horizon, run_dir, resume,
                       validation)
        residual_windows = held_out if held_out.any() else train
        residuals = data.y[residual_windows] - self._forecast(data.take(residual_windows))
        self.interval_ = np.quantile(residuals, [(1 - self.interval) / 2,
                                                 (1 + self.interval) / 2], axis=0)  # (2, H)
        return self

    def windows(self, frame):
        """series.Windows of frame: X (N, L, F') scaled inputs as the model reads them,
        y (N, H) targets in real units (NaN where unknown), last (N,) the target's last known
        value, origin (N,)."""
        check_is_fitted(self, "scaler_")
        table = series.as_frame(frame)
        features, _ = series.check_columns(table, self.target, self.features)
        values, columns = series.encode(table, features, self.categories_)
        if columns != self.input_columns_:
            raise ValueError(f"the series has input columns {columns}, but the forecaster was "
                             f"fitted on {self.input_columns_}")
        inputs = self.scaler_.transform(series.fill_inputs(values, self.fill_))
        return series.windows(inputs.astype(np.float32), table[self.target].to_numpy(np.float64),
                              self.lookback, self.horizon)

    def _forecast(self, data):
        if self.threads is not None:  # as in training: a predict-only process oversubscribes
            set_threads(self.threads)
        output = self.model_.predict(data.X, batch_size=512)  # (N, H), scaled
        forecast = self.target_scaler_.inverse(output.astype(np.float64), column=0)
        return forecast + data.last[:, None] if self.difference else forecast

    def predict(self, frame):
        """(n_windows, horizon) forecasts in real units, one row per window origin."""
        check_is_fitted(self, "model_")
        return self._forecast(self.windows(frame))

    def predict_interval(self, frame):
        """(lower, upper), each (n_windows, horizon): the forecast plus the residual quantiles."""
        forecast = self.predict(frame)
        return forecast + self.interval_[0], forecast + self.interval_[1]

    def baselines(self, frame):
        """{"persistence", "seasonal_persistence" (with a season), "linear"}: (n_windows,
        horizon) forecasts in real units on the very windows of predict."""
        check_is_fitted(self, "linear_")
        data = self.windows(frame)
        forecasts = {"persistence": persistence(data.last, self.horizon)}
        if self.season is not None:
            known = series.last_known(series.as_frame(frame)[self.target])
            forecasts["seasonal_persistence"] = seasonal_persistence(
                known, data.origin, self.horizon, self.season)
        forecasts["linear"] = self.linear_.predict(data.X)
        return forecasts

    def score(self, frame, y=None):
        """-RMSE of predict over the windows whose targets are known (y is not used)."""
        truth = self.windows(frame).y
        errors = (self.predict(frame) - truth)[~np.isnan(truth)]
        if not errors.size:
            raise ValueError("no window of the series has a known target to score")
        return -float(np.sqrt(np.mean(errors ** 2)))


class CharLanguageModel(SequenceEstimator):
    """A character-level language model (char-rnn, Dive into Deep Learning): embedding or
    one-hot input, 1-3 recurrent layers, a dense layer to the next character's logits.

    fit(text) takes a str: the first 1 - validation_fraction of it trains, the rest validates
    (split by position). The vocabulary_ holds the training part's characters after the
    unknown symbol (data.text.UNKNOWN), which every other character maps to. The training
    text is read as batch_size contiguous streams in chunks of bptt_steps characters, the
    state carried from chunk to chunk and the gradient cut between them (truncated BPTT).
    Losses are mean negative log-likelihoods per character in nats; the validation loss is
    over the whole validation text, read the same way (cross_entropy states the rule).
    """

    _head = "every"

    def __init__(self, cell="lstm", hidden_size=128, num_layers=2, dropout=0.0,
                 tokens="embedding", embedding_dim=32, forget_bias=None, optimizer="adam",
                 lr=2e-3, momentum=0.0, weight_decay=0.0, schedule="constant", step_size=5,
                 gamma=0.1, warmup_epochs=0, batch_size=32, bptt_steps=64, epochs=10,
                 clip_norm=5.0, validation_fraction=0.1, patience=None, seed=0, threads=None,
                 verbose=1):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.tokens = tokens
        self.embedding_dim = embedding_dim
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
        self.bptt_steps = bptt_steps
        self.epochs = epochs
        self.clip_norm = clip_norm
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.threads = threads
        self.verbose = verbose

    def fit(self, text, *, run_dir=None, resume=False):
        """Learn the vocabulary and train on text (a str). Returns self."""
        if not isinstance(text, str):
            raise TypeError(f"fit takes the text as a str, got {type(text).__name__}; read a "
                            "file with lstmkit.data.text.read_text")
        if self.tokens == "none":
            raise ValueError("a language model reads characters: tokens is embedding or onehot")
        check_length(text, self.batch_size + 1, hint="one more than batch_size: lower "
                     "batch_size or give a longer text")
        train, validation = split_text(text, self.validation_fraction)
        if self.validation_fraction and len(validation) < 2:
            raise ValueError(f"the last {self.validation_fraction:.0%} of the text holds "
                             f"{len(validation)} character(s); validation needs 2 or more: "
                             "give more text or a larger validation_fraction")
        self.vocabulary_ = Vocabulary(train)
        size = len(self.vocabulary_)
        stream = make_stream(self.vocabulary_.encode(train), self.batch_size, self.bptt_steps)
        held_out = self._stream(validation) if validation else None
        prime = train[0]

        def show_sample(model):
            print(f"sample: {self._generate(model, prime, 200, 0.8, None, 0)!r}")

        return self._fit_data(stream, size, run_dir, resume, held_out, input_size=size,
                              after_epoch=show_sample)

    def _stream(self, text):
        """text read as up to batch_size contiguous rows (as the validation text is)."""
        check_length(text, 2)
        ids = self.vocabulary_.encode(text)
        return make_stream(ids, min(self.batch_size, len(ids) - 1), self.bptt_steps)

    def cross_entropy(self, text):
        """The mean negative log-likelihood per character of text, in nats: text is read as
        min(batch_size, len - 1) contiguous streams of near-equal length, each starting from
        the zero state and carrying it across chunks; every character but the first is
        scored once (each stream's first character is read but not predicted)."""
        check_is_fitted(self, "model_")
        return evaluate(self.model_, self._stream(text))["loss"]

    def perplexity(self, text):
        """exp(cross_entropy(text)): the model's perplexity per character."""
        return math.exp(self.cross_entropy(text))

    def bits_per_char(self, text):
        """cross_entropy(text) / ln 2: the mean code length per character in bits."""
        return self.cross_entropy(text) / math.log(2)

    def sample(self, prime, length=200, temperature=1.0, top_k=None, seed=None):
        """prime followed by `length` generated characters.

        The model reads prime (characters it does not know read as the unknown symbol),
        then draws each next character from softmax(logits / temperature), keeping only the
        top_k most probable when top_k is set; temperature 0 takes the most probable one
        (greedy). seed fixes the draws.
        """
        check_is_fitted(self, "model_")
        return self._generate(self.model_, prime, length, temperature, top_k, seed)

    def _generate(self, model, prime, length, temperature, top_k, seed):
        if not isinstance(prime, str) or not prime:
            raise ValueError("prime must be a non-empty str: the text the sample starts with")
        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or positive, got {temperature}")
        if length < 0:
            raise ValueError(f"length must be 0 or more characters, got {length}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be a positive number of characters, got {top_k}")
        rng = np.random.default_rng(seed)
        ids = self.vocabulary_.encode(prime)[None]  # (1, T)
        state, drawn = None, []
        for _ in range(length):
            logits = model.forward(ids, state=state, train=False)[0, -1].astype(np.float64)
            state = model.final_state
            if temperature == 0:
                next_id = int(logits.argmax())
            else:
                if top_k is not None and top_k < len(logits):
                    logits[logits < np.sort(logits)[-top_k]] = -np.inf
                p = np.exp(log_softmax(logits / temperature))
                next_id = int(rng.choice(len(p), p=p))
            drawn.append(next_id)
            ids = np.array([[next_id]])
        return prime + self.vocabulary_.decode(drawn)
