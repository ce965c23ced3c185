"""lstmkit: the LSTM of the textbook in NumPy, exact and fast enough for real work."""

__version__ = "0.1.0"

from lstmkit.core.layers import GRU, LSTM, GRUCell, LSTMCell

__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell", "__version__"]
