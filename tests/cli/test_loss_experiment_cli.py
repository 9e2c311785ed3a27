"""`vaegan loss-experiment` end to end on a tiny image folder: the GIF's four labelled panels and the tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tiny import tiny_splits
from vaegan.cli import main
from vaegan.cli.loss_experiment import FLAGS
from vaegan.config import DataConfig, vae_run_config
from vaegan.data import load_splits
from vaegan.loss_experiment import COLUMNS, VARIANTS, variant_config
from vaegan.presets import dataset_defaults
from vaegan.training.feature_net import feature_net_for
from vaegan.viz import label_image

TINY = ["--image-size", "16", "--latent-dim", "4", "--base-channels", "4", "--batch-size", "4"]
TINY += ["--device", "cpu", "--precision", "fp32", "--val-fraction", "0.25"]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=40).train.images):  # 32 images: 24 training, 8 held out
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


def test_loss_experiment_writes_the_gif_and_every_column(tmp_path: Path, image_folder: Path) -> None:
    cache = tmp_path / "cache"
    # A feature net of a few steps, cached where the runs look for it, so FID costs no minute of training.
    data = DataConfig(source=str(image_folder), image_size=16, val_fraction=0.25, cache_dir=str(cache))
    feature_net_for(data, load_splits(data), steps=5)
    out = tmp_path / "exp"
    argv = ["loss-experiment", "--data", str(image_folder), "--epochs", "2", "--out", str(out), "--cache-dir"]
    assert main([*argv, str(cache), *TINY]) == 0

    folder = out / "pictures"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*VARIANTS, "losses.gif", "losses.png", "table.json", "table.md"]
    )
    with Image.open(folder / "losses.gif") as gif:
        assert gif.n_frames == 2  # one frame per epoch
        frame = gif.convert("RGB")
    # A panel: 4 rows of 8 samples over 2 rows (originals, reconstructions), 16 px images with 2 px padding,
    # enlarged 4x, each under a caption strip, 4 px apart, under a title strip; four panels two by two,
    # 8 px apart, under the epoch label. Every label strip is viz.label_image's: 16 px text + 8 px.
    s = label_image(Image.new("RGB", (1, 1)), "x").height - 1
    panel_w, panel_h = 4 * (8 * 18 + 2), s + s + 4 * (4 * 18 + 2) + 4 + s + 4 * (2 * 18 + 2)
    assert frame.size == (2 * panel_w + 8, s + 2 * panel_h + 8)
    grey = torch.from_numpy(np.array(frame.convert("L")))  # (H, W)
    for row in range(2):
        for col in range(2):
            top, left = s + row * (panel_h + 8), col * (panel_w + 8)
            title = grey[top : top + s, left : left + panel_w]
            assert (title < 100).any(), f"panel ({row}, {col}) has no title"
    with Image.open(folder / "losses.png") as last:
        assert last.size == frame.size

    table = json.loads((folder / "table.json").read_text())
    assert table["settings"]["epochs"] == 2 and table["settings"]["train_images"] == 24
    assert list(table["variants"]) == list(VARIANTS)
    for recon, row in table["variants"].items():
        assert set(COLUMNS) <= set(row)
        assert isinstance(row["fid"], float) and isinstance(row["psnr"], float)
        assert (row["val_neg_elbo"] is None) == (recon == "none")  # KL only has no likelihood to bound
    assert table["variants"]["none"]["train_reconstruction"] == 0.0
    markdown = (folder / "table.md").read_text()
    assert all(header in markdown for header in COLUMNS.values())
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == 1 + len(VARIANTS)


def test_loss_experiment_leaves_the_loss_to_the_experiment() -> None:
    names = {flag.name for flag in FLAGS}
    assert "--recon" not in names and "--epochs" in names and "--batch-size" in names
    assert "--msssim-weight" not in names


def test_every_variant_has_its_reconstruction_loss_alone_on_colour_data_too() -> None:
    """The colour default adds an MS-SSIM term; the experiment's variants (the KL-only one above all) do not."""
    sections = dataset_defaults("emoji")
    assert vae_run_config(**sections).loss.msssim_weight > 0
    for recon in VARIANTS:
        assert variant_config(sections, recon).loss.msssim_weight == 0.0
