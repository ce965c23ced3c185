"""The article in code: activations, LSTM and GRU cells, the sequence runner, layers, losses."""
