"""--tensorboard: the events a run writes read back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny import tiny_config, tiny_splits
from vaegan.runs import read_metrics
from vaegan.training.train_vae import train_vae

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def test_a_run_with_tensorboard_writes_each_epochs_scalars_and_grid(tmp_path: Path) -> None:
    run = tmp_path / "vae"
    train_vae(tiny_config(epochs=2, tensorboard=True), run, splits=tiny_splits())
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert "train/total" in events.Tags()["scalars"] and "val/neg_elbo" in events.Tags()["scalars"]
    logged = events.Scalars("val/neg_elbo")
    assert [e.step for e in logged] == [r["epoch"] for r in read_metrics(run)] == [1, 2]
    assert [e.value for e in logged] == pytest.approx([r["val/neg_elbo"] for r in read_metrics(run)], rel=1e-6)
    grids = events.Images("samples")
    assert [g.step for g in grids] == [1, 2] and (grids[0].width, grids[0].height) == (
        4 * 18 + 2,
        2 * 18 + 2,
    )  # 8 in 4 x 2


def test_runs_without_the_flag_write_no_events(tmp_path: Path) -> None:
    train_vae(tiny_config(epochs=1), tmp_path / "vae", splits=tiny_splits())
    assert not (tmp_path / "vae" / "tensorboard").exists()
