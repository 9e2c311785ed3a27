"""A tiny VAE + GAN run on a folder of images (so every process can reload its data) and a live explorer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.config import GANRunConfig
from vaegan.explorer.core import Explorer
from vaegan.explorer.server import ExplorerServer, make_server
from vaegan.explorer.site import Site, write_site
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


def write_folder(root: Path, n: int = 48) -> Path:
    """n - 8 of tiny_splits' coloured squares as PNG files, one subfolder per class (folders label by it)."""
    data = tiny_splits(n=n).train
    for i, (image, label) in enumerate(zip(data.images, data.labels.tolist(), strict=True)):
        folder = root / "abc"[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"square{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline-shaped run folder on 40 images in 3 classes: run/vae, trained until its latents tell the
    images apart (after one epoch they all encode to about the same point), and run/gan, one epoch."""
    root = tmp_path_factory.mktemp("explore")
    cfg = tiny_config(epochs=25)
    cfg = replace(cfg, data=replace(cfg.data, source=str(write_folder(root / "images")), val_fraction=0.25))
    train_vae(cfg, root / "vae")
    # a GAN trained on N(0, I), so Random z is tested with both samplers (the VAE draws from its fitted prior)
    gan = tiny_gan(latents="normal")
    train_gan(GANRunConfig(vae_checkpoint=str(root / "vae" / "checkpoint.pt"), gan=gan), root / "gan")
    return root


@pytest.fixture(scope="session")
def explorer(run: Path) -> Explorer:
    return Explorer.from_run(run)


@pytest.fixture(scope="session")
def server(explorer: Explorer) -> Iterator[ExplorerServer]:
    srv = make_server(explorer, "127.0.0.1", 0).start()
    yield srv
    srv.stop()
    assert srv.thread is not None and not srv.thread.is_alive()


@pytest.fixture(scope="session")
def site(explorer: Explorer, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The run exported as a static site (`vaegan export --format web`)."""
    return write_site(explorer, tmp_path_factory.mktemp("site") / "explorer")
