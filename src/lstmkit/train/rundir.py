"""The run directory every training command writes.

    RUN_DIR/config.json      the estimator's hyperparameters, the task's options, lstmkit version
    RUN_DIR/checkpoint.npz   the last good training checkpoint (train.loop)
    RUN_DIR/history.csv      one row per finished epoch
    RUN_DIR/metrics.json     final train / validation / test metrics, wall time, samples/s
    RUN_DIR/*.png            the task's plots
"""

import csv
import io
import json
import os
import time
from pathlib import Path

from lstmkit import __version__


def default_run_dir(task):
    """runs/<task>-<date>-<time> under the current directory (a new name each second)."""
    return Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"


class RunDir:
    """The files of one training run under `path`."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def checkpoint(self):
        return self.path / "checkpoint.npz"

    def create(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def _write_atomically(self, name, text):
        target = self.path / name
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)

    def write_json(self, name, data):
        self._write_atomically(name, json.dumps(data, indent=2, allow_nan=True) + "\n")

    def read_json(self, name):
        path = self.path / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: is {self.path} a run directory "
                                    "written by lstmkit train?")
        return json.loads(path.read_text())

    def write_config(self, config):
        self.write_json("config.json", {**config, "lstmkit_version": __version__})

    def write_history(self, rows):
        """history.csv with one row per epoch (columns: the union of the rows' keys)."""
        columns = list(dict.fromkeys(key for row in rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self._write_atomically("history.csv", text.getvalue())
