"""The training curves as a plain CSV file, RUN_DIR/scalars.csv, beside TensorBoard's events (which
need TensorFlow to write and TensorBoard to read): one row per log, a header naming the columns.

    step,ncut_loss,rec_loss,encoder_lr,wnet_lr,images_per_sec
    10,18.93,0.0712,0.003,0.003,1.52

A run that resumes from a checkpoint at step S first drops the rows after S (the steps it trains
again), so the file is always one curve.
"""

import csv
from pathlib import Path

from wnet_tf.files import atomic_write_text

SCALARS_FILE = "scalars.csv"


def read_scalars(path) -> list[dict]:
    """The rows of a scalars file, each a dict of floats (the step an int)."""
    with open(path, newline="") as f:
        return [{key: int(value) if key == "step" else float(value) for key, value in row.items()}
                for row in csv.DictReader(f)]


class ScalarLog:
    """Appends rows to RUN_DIR/scalars.csv, after dropping those past `resume_step`."""

    def __init__(self, run_dir, resume_step: int):
        self.path = Path(run_dir) / SCALARS_FILE
        self.columns = None
        if self.path.is_file():
            with open(self.path, newline="") as f:
                lines = f.read().splitlines(keepends=True)
            if lines:
                self.columns = next(csv.reader(lines[:1]))
                kept = [line for line in lines[1:] if int(line.split(",", 1)[0]) <= resume_step]
                atomic_write_text(self.path, "".join(lines[:1] + kept))

    def write(self, step: int, values: dict) -> None:
        """One row: the step and `values` (the first row fixes the columns)."""
        if self.columns is None:
            self.columns = ["step", *values]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(",".join(self.columns) + "\n")
        if list(values) != self.columns[1:]:
            raise ValueError(f"{self.path}: columns {self.columns[1:]}, got {list(values)}")
        with open(self.path, "a", newline="") as f:
            f.write(",".join([str(step), *(f"{values[k]:.7g}" for k in self.columns[1:])]) + "\n")
