"""--resume continues the run it names in place: flags that point elsewhere are refused before anything is
read or written, and a folder of another kind is not taken for a pipeline run."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.cli import main
from vaegan.config import GANRunConfig
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume")
    for i, image in enumerate(tiny_splits().train.images):  # a real folder, so a resume can load its data
        (root / "pictures").mkdir(exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "pictures" / f"{i}.png")
    cfg = tiny_config(epochs=1)
    cfg = replace(cfg, data=replace(cfg.data, source=str(root / "pictures")))
    train_vae(cfg, root / "vae")
    train_gan(GANRunConfig(str(root / "vae"), tiny_gan()), root / "gan")
    return root


def files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train-vae", "--resume", "{root}/vae", "--out", "{root}/elsewhere", "--epochs", "2"], "--out"),
        (["train-gan", "--resume", "{root}/gan", "--vae", "{root}/vae"], "drop --vae"),
        (["train-vae", "--resume", "{root}/typo"], "no such run folder"),
        (["run", "--data", "{root}/pictures", "--out", "{root}/vae"], "the folder of one training stage"),
        # root holds vae/ and gan/ as a `vaegan run` folder does: the stage to pass is named
        (["train-vae", "--resume", "{root}"], "is a `vaegan run` folder; pass its VAE stage: --resume {root}/vae"),
        (["train-gan", "--resume", "{root}/"], "is a `vaegan run` folder; pass its GAN stage: --resume {root}/gan"),
        (["run", "--resume", "{root}"], "vaegan run has no --resume: run the same `vaegan run` command again"),
    ],
    ids=[
        "resume-with-out",
        "resume-gan-with-vae",
        "resume-typo",
        "run-into-a-stage-folder",
        "resume-vae-of-a-pipeline",
        "resume-gan-of-a-pipeline",
        "run-resume",
    ],
)
def test_a_conflicting_resume_is_refused_and_changes_nothing(
    runs: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files(runs)
    try:
        code = main([a.format(root=runs) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(root=runs) in err[0]
    assert files(runs) == before
    assert not (runs / "elsewhere").exists() and not (runs / "typo").exists()


@pytest.mark.parametrize("stage", ["vae", "gan"])
def test_a_resume_with_nothing_left_to_train_changes_no_file(
    runs: Path, stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files(runs)
    assert main([f"train-{stage}", "--resume", str(runs / stage)]) == 0
    assert "nothing to train" in capsys.readouterr().err
    assert files(runs) == before


def test_resuming_the_gan_of_a_pipeline_folder_without_one_says_how_to_train_it(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(runs / "vae", tmp_path / "vae")  # a `vaegan run` stopped in its VAE stage
    assert main(["train-gan", "--resume", str(tmp_path)]) == 2
    assert "is a `vaegan run` folder with no GAN stage yet; run the same `vaegan run` command again" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "gan").exists()
