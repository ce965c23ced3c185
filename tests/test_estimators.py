"""SequenceClassifier as a scikit-learn estimator: it learns, it clones, it fits a Pipeline,
cross_val_score and GridSearchCV, it pickles with joblib, it takes ragged sequences, and it
refuses bad input with a clear message."""

import csv
import io
import math

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lstmkit.core.losses import log_softmax
from lstmkit.data.text import UNKNOWN
from lstmkit.estimators import CharLanguageModel, SequenceClassifier
from lstmkit.tasks.demo import first_symbol_data

STEPS, SYMBOLS = 6, 3  # chance: 1/3
FEATURES = SYMBOLS + 1
TINY = dict(hidden_size=8, epochs=10, lr=1e-2, batch_size=32, verbose=0)


def data(n, seed):
    return first_symbol_data(n, STEPS, SYMBOLS, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def fitted():
    X, y = data(240, 0)
    return SequenceClassifier(**TINY).fit(X, y)


# -- learning -----------------------------------------------------------------------------


def test_learns_the_task_well_above_chance(fitted):
    X_test, y_test = data(200, 1)
    assert fitted.score(X_test, y_test) > 0.8
    assert len(fitted.history_) == 10 and fitted.stopped_ is None
    assert fitted.history_[-1]["val_accuracy"] > 0.8


def test_fit_returns_self():
    X, y = data(40, 2)
    classifier = SequenceClassifier(**{**TINY, "epochs": 1})
    assert classifier.fit(X, y) is classifier


def test_predict_proba_rows_sum_to_one_and_argmax_is_predict(fitted):
    X, _ = data(50, 3)
    proba = fitted.predict_proba(X)
    assert proba.shape == (50, SYMBOLS)
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X))


def test_string_labels(tmp_path):
    X, y = data(120, 4)
    names = np.array(["zebra", "ant", "moth"])[y]
    classifier = SequenceClassifier(**{**TINY, "epochs": 2}).fit(X, names)
    assert list(classifier.classes_) == ["ant", "moth", "zebra"]
    predicted = classifier.predict(X)
    assert predicted.dtype == names.dtype and set(predicted) <= set(names)
    assert 0 <= classifier.score(X, names) <= 1


# -- the scikit-learn contract ------------------------------------------------------------


def test_get_params_returns_the_init_arguments_verbatim():
    classifier = SequenceClassifier(hidden_size=5, cell="gru", clip_norm=2.0, n_steps=7,
                                    verbose=0)
    params = classifier.get_params()
    assert params["hidden_size"] == 5 and params["cell"] == "gru"
    assert params["clip_norm"] == 2.0 and params["n_steps"] == 7
    assert params == {**SequenceClassifier().get_params(), "hidden_size": 5, "cell": "gru",
                      "clip_norm": 2.0, "n_steps": 7, "verbose": 0}


def test_set_params_returns_self_and_sets():
    classifier = SequenceClassifier()
    assert classifier.set_params(hidden_size=4, epochs=3) is classifier
    assert (classifier.hidden_size, classifier.epochs) == (4, 3)
    with pytest.raises(ValueError, match="Invalid parameter 'hidden'"):
        classifier.set_params(hidden=4)


def test_init_only_stores_hyperparameters():
    classifier = SequenceClassifier(optimizer="no-such-optimizer", hidden_size=-1)
    assert classifier.optimizer == "no-such-optimizer"  # validated in fit, not in __init__
    with pytest.raises(ValueError, match="unknown optimizer 'no-such-optimizer'"):
        classifier.set_params(hidden_size=4).fit(*data(20, 0))


def test_fitted_attributes_end_with_an_underscore(fitted):
    assert is_classifier(fitted)
    hyperparameters = set(fitted.get_params())
    fitted_names = set(vars(fitted)) - hyperparameters
    assert {"classes_", "model_", "history_", "stopped_"} <= fitted_names
    assert all(name.endswith("_") for name in fitted_names)
    assert not any(name.endswith("_") for name in vars(SequenceClassifier()))


def test_clone_has_equal_params_and_is_unfitted(fitted):
    copy = clone(fitted)
    assert copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        copy.predict(data(2, 0)[0])


def test_pipeline_with_a_scaler_on_flat_rows():
    X, y = data(240, 5)
    X_test, y_test = data(100, 6)
    pipeline = make_pipeline(StandardScaler(), SequenceClassifier(n_steps=STEPS, **TINY))
    pipeline.fit(X.reshape(len(X), STEPS * FEATURES), y)
    assert pipeline.score(X_test.reshape(len(X_test), -1), y_test) > 0.6
    assert pipeline[-1].n_features_in_ == STEPS * FEATURES


def test_cross_val_score():
    X, y = data(160, 7)
    scores = cross_val_score(SequenceClassifier(**{**TINY, "epochs": 3}), X, y, cv=2)
    assert scores.shape == (2,)
    assert np.all((0 <= scores) & (scores <= 1))


def test_grid_search_over_hidden_size():
    X, y = data(120, 8)
    search = GridSearchCV(SequenceClassifier(**{**TINY, "epochs": 2}),
                          {"hidden_size": [4, 6]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["hidden_size"] in (4, 6)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.hidden_size == search.best_params_["hidden_size"]
    assert search.predict(X).shape == (120,)


def test_joblib_round_trip_predicts_identically(fitted, tmp_path):
    X, _ = data(30, 9)
    path = tmp_path / "classifier.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert np.array_equal(loaded.predict(X), fitted.predict(X))
    buffer = io.BytesIO()  # and through a file object
    joblib.dump(fitted, buffer)
    buffer.seek(0)
    assert np.array_equal(joblib.load(buffer).predict_proba(X), fitted.predict_proba(X))


# -- input forms --------------------------------------------------------------------------


def ragged(n, seed):
    """A list of n sequences (T_i, FEATURES), T_i in 2..8, labelled by their first symbol."""
    rng = np.random.default_rng(seed)
    X, y = first_symbol_data(n, 8, SYMBOLS, rng)
    return [x[:t] for x, t in zip(X, rng.integers(2, 9, n), strict=True)], y


def test_ragged_list_prediction_does_not_depend_on_the_batch():
    X, y = ragged(120, 10)
    classifier = SequenceClassifier(**{**TINY, "epochs": 3}).fit(X, y)
    short = next(x for x in X if len(x) == 2)
    batch = [x for x in X if len(x) == 8][:5] + [short]
    together = classifier.predict_proba(batch)[-1]
    alone = classifier.predict_proba([short])[0]
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    # and padding it by hand without lengths is a different, longer sequence
    padded = np.zeros((1, 8, FEATURES), np.float32)
    padded[0, :2] = short
    assert classifier.predict_proba(padded).shape == (1, SYMBOLS)


def test_equal_length_list_equals_the_3d_array(fitted):
    X, _ = data(10, 11)
    np.testing.assert_allclose(fitted.predict_proba(list(X)), fitted.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    assert np.array_equal(fitted.predict(list(X)), fitted.predict(X))


def test_fit_with_a_run_dir_writes_history_and_checkpoint(tmp_path):
    X, y = data(60, 12)
    classifier = SequenceClassifier(**{**TINY, "epochs": 2}).fit(X, y, run_dir=tmp_path / "run")
    with open(tmp_path / "run" / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    # resuming a finished run trains no further and gives the same model
    again = clone(classifier).fit(X, y, run_dir=tmp_path / "run", resume=True)
    for name, value in classifier.model_.params.items():
        assert np.array_equal(again.model_.params[name], value), name


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_X", "n_steps", "message"),
    [
        (lambda X: X.reshape(len(X), -1), None, r"X is 2-D \(20, 24\): set n_steps"),
        (lambda X: X.reshape(len(X), -1), 5, r"X has 24 columns, not a multiple of n_steps=5"),
        (lambda X: X[:, :, :, None], None, r"X has shape \(20, 6, 4, 1\); expected \(N, T, D\)"),
        (lambda X: [*X[:3], np.zeros((0, FEATURES))], None, r"sequence 3 of X is empty"),
        (lambda X: [X[0], X[1][:, :2]], None, r"a list X must hold 2-D arrays \(T_i, D\) with "
                                              r"the same D"),
        (lambda X: [], None, r"X is an empty list"),
    ],
    ids=["2d-without-n_steps", "columns-not-multiple", "4d", "empty-sequence", "mixed-D",
         "empty-list"],
)
def test_fit_refuses_bad_x(make_X, n_steps, message):
    X, y = data(20, 13)
    X = make_X(X)
    with pytest.raises(ValueError, match=message):
        SequenceClassifier(n_steps=n_steps, **TINY).fit(X, y[:len(X)])


def test_fit_refuses_y_of_the_wrong_length():
    X, y = data(20, 14)
    with pytest.raises(ValueError, match=r"y has shape \(19,\), expected \(20,\): one label"):
        SequenceClassifier(**TINY).fit(X, y[:19])


def test_fit_refuses_a_single_class():
    X, _ = data(20, 15)
    with pytest.raises(ValueError, match=r"y holds 1 class\(es\) \['a'\]; a classifier needs two"):
        SequenceClassifier(**TINY).fit(X, np.full(20, "a"))
    with pytest.raises(ValueError, match=r"y holds 1 class\(es\) \[3\]; a classifier needs two"):
        SequenceClassifier(**TINY).fit(X, np.full(20, 3))
    with pytest.raises(ValueError, match=r"y holds 0 class\(es\) \[\]; a classifier needs two"):
        SequenceClassifier(**TINY).fit(X[:0], np.zeros(0, int))


def test_predict_before_fit():
    X, _ = data(5, 16)
    for method in ("predict", "predict_proba", "score"):
        args = (X, np.zeros(5, int)) if method == "score" else (X,)
        with pytest.raises(NotFittedError, match="This SequenceClassifier instance is not "
                                                 "fitted yet. Call 'fit'"):
            getattr(SequenceClassifier(verbose=0), method)(*args)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_x_is_refused(fitted, bad):
    X, y = data(40, 17)
    X[7, 3, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        SequenceClassifier(**{**TINY, "epochs": 1}).fit(X, y)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        fitted.predict(X)


def test_predict_refuses_another_number_of_features(fitted):
    with pytest.raises(ValueError, match=r"X has shape .*expected"):
        fitted.predict(np.zeros((2, STEPS, FEATURES + 1), np.float32))


# -- CharLanguageModel --------------------------------------------------------------------

TEXT = ("the cat sat on the mat. the dog sat on the log. " * 40)  # 1,960 characters
LM = dict(hidden_size=12, num_layers=1, embedding_dim=6, batch_size=4, bptt_steps=16,
          epochs=3, lr=2e-2, verbose=0)


@pytest.fixture(scope="module")
def language_model():
    return CharLanguageModel(**LM).fit(TEXT)


def test_language_model_learns_and_its_validation_loss_is_the_whole_validation_text(
        language_model):
    history = language_model.history_
    assert history[-1]["val_loss"] < history[0]["val_loss"] < math.log(len(set(TEXT)) + 1)
    validation = TEXT[len(TEXT) - round(0.1 * len(TEXT)):]
    loss = language_model.cross_entropy(validation)
    assert loss == pytest.approx(history[-1]["val_loss"], rel=1e-12)
    assert language_model.perplexity(validation) == pytest.approx(math.exp(loss))
    assert language_model.bits_per_char(validation) == pytest.approx(loss / math.log(2))
    assert language_model.vocabulary_.decode(language_model.vocabulary_.encode(TEXT)) == TEXT


def test_temperature_zero_is_greedy(language_model):
    sample = language_model.sample("the ", 30, temperature=0)
    assert sample.startswith("the ") and len(sample) == 34
    vocabulary, model = language_model.vocabulary_, language_model.model_
    for t in range(4, 34):  # each character is the argmax after reading all before it
        logits = model.forward(vocabulary.encode(sample[:t])[None], train=False)[0, -1]
        assert vocabulary.chars[int(np.argmax(log_softmax(logits)))] == sample[t]
    assert language_model.sample("the ", 30, temperature=0, seed=5) == sample
    assert language_model.sample("the ", 30, temperature=2.0, top_k=1, seed=1) == sample


def test_the_same_seed_gives_the_same_sample(language_model):
    first = language_model.sample("the", 60, temperature=1.0, seed=3)
    assert language_model.sample("the", 60, temperature=1.0, seed=3) == first
    others = {language_model.sample("the", 60, temperature=1.0, seed=s) for s in range(4, 8)}
    assert others - {first}  # another seed draws another text
    assert set(first[3:]) <= set(language_model.vocabulary_.chars)


def test_unknown_prime_characters_read_as_the_unknown_symbol(language_model):
    assert language_model.sample("Zebra!", 5, temperature=0).startswith("Zebra!")
    assert (language_model.sample("Zebra!", 5, temperature=0)[6:]
            == language_model.sample(f"{UNKNOWN}ebra{UNKNOWN}", 5, temperature=0)[6:])


@pytest.mark.parametrize(("options", "message"), [
    ({"temperature": -0.5}, r"temperature must be 0 \(greedy\) or positive, got -0.5"),
    ({"prime": ""}, r"prime must be a non-empty str"),
    ({"top_k": 0}, r"top_k must be a positive number of characters, got 0"),
    ({"length": -1}, r"length must be 0 or more characters, got -1"),
])
def test_sample_refuses_bad_arguments(language_model, options, message):
    arguments = {"prime": "the", "length": 10, "temperature": 1.0, **options}
    with pytest.raises(ValueError, match=message):
        language_model.sample(**arguments)


def test_language_model_is_a_scikit_learn_estimator(language_model):
    copy = clone(language_model)
    assert copy.get_params() == language_model.get_params() and not hasattr(copy, "model_")
    with pytest.raises(NotFittedError):
        copy.sample("the", 5)
    with pytest.raises(TypeError, match="fit takes the text as a str, got list"):
        CharLanguageModel(**LM).fit(["the cat"])
    with pytest.raises(ValueError, match=r"the text has 3 characters, too short: it needs at "
                       r"least 5; one more than batch_size: lower batch_size or give a longer"):
        CharLanguageModel(**LM).fit("abc")
    with pytest.raises(ValueError, match="a language model reads characters: tokens is "
                       "embedding or onehot"):
        CharLanguageModel(**{**LM, "tokens": "none"}).fit(TEXT)
