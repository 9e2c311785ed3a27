"""A run is self-contained: trained with relative --data and --vae, moved or copied elsewhere, every tool
works on it from another folder (issue 50). Older runs stored what was typed; those paths are found
again beside the run, in the folders above it, or in the current folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import GANCheckpoint, load_checkpoint, seal
from vaegan.cli import main
from vaegan.runs import open_run

GAN_FLAGS = ["--disc-channels", "4", "--gan-batch-size", "4", "--gan-epochs", "1"]
GAN_ONLY = ["--device", "cpu", "--precision", "fp32", "--quality-every", "0", "--min-steps", "0"]


def pictures(folder: Path, n: int = 24) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(tiny_splits(n=n).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """In ROOT/home: a pipeline run, and a lone VAE run with a lone GAN run from it, all given relative paths."""
    root = tmp_path_factory.mktemp("relocate")
    home = root / "home"
    pictures(home / "imgs")
    pictures(home / "others", n=12)  # attribute's second folder: the same one twice is a zero direction
    before = Path.cwd()
    os.chdir(home)
    try:
        assert main(["run", "--data", "imgs", "--out", "pipeline", "--epochs", "1", *TINY_FLAGS, *GAN_FLAGS]) == 0
        assert main(["train-vae", "--data", "imgs", "--out", "vae", "--epochs", "1", *TINY_FLAGS]) == 0
        assert main(["train-gan", "--vae", "vae", "--out", "gan", *GAN_FLAGS, *GAN_ONLY]) == 0
    finally:
        os.chdir(before)
    return root


def moved(trained: Path, tmp_path: Path, *names: str) -> Path:
    """Copies of the named runs of ROOT/home in TMP/elsewhere (the data stays where it was)."""
    target = tmp_path / "elsewhere"
    for name in names:
        shutil.copytree(trained / "home" / name, target / name)
    return target


def tools(run: Path, out: Path, images: Path) -> list[list[str]]:
    """Every latent tool on `run`, each writing into `out`."""
    picture = str(next(images.glob("*.png")))
    return [
        ["sample", str(run), "-o", str(out), "-n", "4"],
        ["reconstruct", str(run), "--images", picture, "-o", str(out)],
        ["similar", str(run), "-n", "2", "--variants", "2", "-o", str(out)],
        ["interpolate", str(run), "--steps", "3", "-o", str(out)],
        ["attribute", str(run), "--folders", str(images), str(images.parent / "others"), "-n", "2", "-o", str(out)],
        ["latent-map", str(run), "--grid", "2", "-o", str(out)],
        ["kl-per-dim", str(run), "-o", str(out)],
        ["curves", str(run), "-o", str(out)],
        ["export", str(run), "-o", str(out)],
        ["report", str(run), "-o", str(out)],
        [
            "evaluate",
            str(run),
            "--split",
            "train",
            "-k",
            "0",
            "--samples",
            "8",
            "--feature-steps",
            "2",
            "--cache-dir",
            str(out / "c"),
        ],
    ]


def test_a_moved_pipeline_run_works_from_any_folder(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = moved(trained, tmp_path, "pipeline") / "pipeline"
    stored = json.loads((run / "vae" / "config.json").read_text())["data"]["source"]
    assert stored == str(trained / "home" / "imgs")  # --data imgs, stored absolute
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for argv in tools(run, tmp_path / "out", trained / "home" / "imgs"):
        capsys.readouterr()
        assert main(argv) == 0, (argv[0], capsys.readouterr().err)
    assert main(["train-gan", "--resume", str(run / "gan"), "--gan-epochs", "2"]) == 0
    assert load_checkpoint(run / "gan" / "checkpoint.pt").loop.epoch == 3


def test_a_gan_moved_with_its_vae_follows_the_move(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train-gan --vae vae --out gan, both folders copied: the copy of the GAN uses the copy of the VAE."""
    target = moved(trained, tmp_path, "vae", "gan")
    monkeypatch.chdir(tmp_path)
    run = open_run(target / "gan")
    assert run.stages["vae"].checkpoint_path == target / "vae" / "checkpoint.pt"
    gan = load_checkpoint(target / "gan" / "checkpoint.pt")
    assert isinstance(gan, GANCheckpoint) and gan.vae_checkpoint == os.path.join("..", "vae", "checkpoint.pt")
    assert gan.config.vae_checkpoint == str(trained / "home" / "vae" / "checkpoint.pt")
    assert main(["similar", str(target / "gan"), "-n", "2", "--variants", "2", "-o", str(tmp_path / "o")]) == 0
    assert main(["train-gan", "--resume", str(target / "gan"), "--gan-epochs", "2"]) == 0


def test_a_gan_moved_alone_finds_its_vae_where_it_was(trained: Path, tmp_path: Path) -> None:
    target = moved(trained, tmp_path, "gan")
    run = open_run(target / "gan")
    assert run.stages["vae"].checkpoint_path == trained / "home" / "vae" / "checkpoint.pt"
    assert main(["sample", str(target / "gan"), "-n", "4", "-o", str(tmp_path / "o")]) == 0


def test_an_old_run_with_relative_paths_is_read_from_anywhere(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs before issue 50 stored `--data imgs` and `--vae vae` as typed, relative to where they were trained."""
    target = moved(trained, tmp_path, "vae", "gan")
    shutil.copytree(trained / "home" / "imgs", tmp_path / "elsewhere" / "imgs")
    for stage, edit in (("vae", "config"), ("gan", "vae_config")):
        payload = torch.load(target / stage / "checkpoint.pt", weights_only=True)
        payload[edit]["data"]["source"] = "imgs"
        if stage == "gan":
            payload["vae_checkpoint"] = payload["config"]["vae_checkpoint"] = "vae/checkpoint.pt"
        torch.save(seal(payload), target / stage / "checkpoint.pt")
    monkeypatch.chdir(tmp_path)  # neither the folder trained in nor one holding imgs
    run = open_run(target / "gan")
    assert run.stages["vae"].checkpoint_path == target / "vae" / "checkpoint.pt"  # found in the GAN's parent
    assert run.config.data.source == str(target / "imgs")
    assert main(["latent-map", str(target / "gan"), "--grid", "2", "-o", str(tmp_path / "o")]) == 0
    assert main(["train-gan", "--resume", str(target / "gan"), "--gan-epochs", "2"]) == 0
