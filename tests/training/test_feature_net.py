"""When and how loudly the own-feature net trains: a log line per tenth of its steps where no bar shows,
none where one does, and a pipeline that writes its first grids before anything waits on the net."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_gan, tiny_splits
from vaegan import progress
from vaegan.config import vae_run_config
from vaegan.data import load_splits
from vaegan.metrics.features import cache_path
from vaegan.pipeline import feature_net_setup, prepare_feature_net, run_pipeline
from vaegan.training import feature_net
from vaegan.training.feature_net import Recipe, train_feature_net


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("feature net (")]


def test_a_redirected_log_gets_a_line_per_tenth_of_the_steps(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vaegan.training.feature_net"):
        train_feature_net(tiny_splits().train, steps=25, batch_size=4)
    lines = progress_lines(caplog)
    done = [line.split(": ")[1].split(" steps")[0] for line in lines]
    assert done == ["3/25", "5/25", "8/25", "10/25", "13/25", "15/25", "18/25", "20/25", "23/25", "25/25"]
    assert lines[0].startswith("feature net (classifier): 3/25 steps (12%), loss ")
    assert lines[-1].endswith("about 0s to go")


def test_a_terminal_gets_the_bar_and_no_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    with caplog.at_level(logging.INFO, logger="vaegan.training.feature_net"):
        train_feature_net(tiny_splits().train, steps=25, batch_size=4)
    assert "feature network (classifier, once per dataset)" in terminal.getvalue()
    assert progress_lines(caplog) == []


def folder_config(root: Path, **train: object):  # noqa: ANN201 - a VAERunConfig on a folder of PNGs
    """tiny_splits' squares as a folder without labels, FID every 2nd epoch, its feature net cached under root."""
    folder = root / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=48).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    settings = {"epochs": 2, "batch_size": 4, "grid_size": 8, "device": "cpu", "precision": "fp32", "min_steps": 0}
    return vae_run_config(
        data={"source": str(folder), "image_size": 16, "channels": 3, "val_fraction": 0.25, "cache_dir": str(root)},
        model={"latent_dim": 4, "base_channels": 4},
        train={**settings, "quality_every": 2, "quality_samples": 10, **train},
    )


@pytest.mark.parametrize("limited", [False, True])
def test_a_pipeline_draws_its_first_grids_before_it_trains_the_feature_net(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limited: bool
) -> None:
    """The first FID (epoch 2) trains the net, after epoch 1's grids; with a time limit, whose clock must not
    count it, the net trains before the first epoch instead. Either way the run's set-up names its seconds."""
    monkeypatch.setitem(feature_net.RECIPES, "simclr", Recipe(steps=20, batch_size=8))  # seconds, not a minute
    cfg = folder_config(tmp_path, max_minutes=60.0 if limited else 0.0)
    result = run_pipeline(cfg, tiny_gan(), tmp_path / "run", progress=False)
    assert result is not None
    net = cache_path(cfg.data).stat().st_mtime_ns
    first_grid = (tmp_path / "run" / "vae" / "grids" / "samples_e001.png").stat().st_mtime_ns
    assert (net < first_grid) is limited
    seconds = feature_net_setup(cache_path(cfg.data), cfg.data.source)
    assert list(seconds) == [f"training the {cfg.data.source} feature network (once per dataset)"]
    assert 0 < next(iter(seconds.values())) < 60
    assert prepare_feature_net(cfg, tiny_gan(), load_splits(cfg.data)) is None  # cached: a rerun spends nothing
