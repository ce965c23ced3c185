"""lstmkit: the LSTM of the textbook in NumPy, exact and fast enough for real work."""

__version__ = "0.1.0"

from lstmkit.core.layers import GRU, LSTM, GRUCell, LSTMCell  # noqa: E402

_ESTIMATORS = ("SequenceClassifier", "Forecaster",  # imported on first use: they load
               "CharLanguageModel")  # scikit-learn

__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", *_ESTIMATORS, "__version__"]


def __getattr__(name):
    if name in _ESTIMATORS:
        from lstmkit import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")
