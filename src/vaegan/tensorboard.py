"""TensorBoard events beside metrics.jsonl, for users who watch runs there: an optional extra.

metrics.jsonl stays the record every vaegan tool reads; the events repeat each epoch's numbers and its
sample grid under the same names, stepped by epoch, in RUN/tensorboard/ (`tensorboard --logdir RUN`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vaegan.errors import VaeganError


class EventLog:
    """Writes one epoch's scalars and sample grid per call; the TrainingRun calls it once per epoch."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise VaeganError(
                "--tensorboard needs the tensorboard package: pip install -c constraints.txt 'vaegan[tensorboard]'"
            ) from exc
        self.folder = Path(run_dir) / "tensorboard"
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def epoch(self, record: dict[str, Any], grids: Path) -> None:
        """Every finite number of the epoch's metrics line, and grids/samples_eNNN.png when drawn."""
        epoch = int(record["epoch"])
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                if key not in ("epoch", "step"):
                    self.writer.add_scalar(key, value, epoch)
        grid = grids / f"samples_e{epoch:03d}.png"
        if grid.is_file():
            with Image.open(grid) as image:
                self.writer.add_image("samples", np.asarray(image.convert("RGB")), epoch, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
