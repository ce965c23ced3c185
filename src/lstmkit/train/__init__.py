"""Training machinery: optimizers, gradient clipping, learning-rate schedules, checkpoints."""
