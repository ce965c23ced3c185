"""What the task tests share: a real Ctrl-C in the middle of training."""

import os
import signal

import pytest

from lstmkit.train.optimizers import Adam


@pytest.fixture
def ctrl_c_after(monkeypatch):
    """ctrl_c_after(n): a real Ctrl-C (SIGINT, which the training loop catches) right after
    the n-th Adam step from now on; ctrl_c_after(None) puts Adam.step back."""
    original = Adam.step

    def arm(n):
        if n is None:
            monkeypatch.setattr(Adam, "step", original)
            return
        steps = []

        def step(self, params, grads):
            original(self, params, grads)
            steps.append(1)
            if len(steps) == n:
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(Adam, "step", step)

    return arm
