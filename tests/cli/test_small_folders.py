"""`vaegan run` on folders of 1 to 60 images, quality checks at epoch 1: each trains or is refused in one line.

The smallest that trains holds 3 images: 2 to train on (the fitted prior needs a spread), 1 held out.

Folders under ~55 images crashed at the first quality check (kthvalue: k out of range) once 10% held out
left k or fewer images for the k-NN metrics. Held out at the default 10%: 1 image up to 14, 2 at 20, 4 at 40
and 6 at 60, so every branch runs: FID skipped, k-NN metrics with fewer neighbours, and the full k.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.cli import main

SMALL = [
    *("--image-size", "16", "--latent-dim", "4", "--base-channels", "4", "--disc-channels", "4"),
    *("--batch-size", "4", "--gan-batch-size", "4", "--device", "cpu", "--precision", "fp32"),
    *("--epochs", "1", "--gan-epochs", "1", "--min-steps", "0", "--quality-every", "1"),
]
SMALL_TOML = "[train]\ngrid_size = 8\nquality_samples = 10\n"  # settings without a flag


def folder_of(n: int, root: Path) -> Path:
    folder = root / f"{n}-pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=n + 8).train.images):  # its first n: squares on white
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 20, 40, 60])
def test_a_folder_of_any_size_trains_or_is_refused_in_one_line(
    n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_feature_net: None
) -> None:
    folder, run, config = folder_of(n, tmp_path), tmp_path / "run", tmp_path / "small.toml"
    config.write_text(SMALL_TOML)
    code = main(["run", "--data", str(folder), "--out", str(run), "--config", str(config), *SMALL])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if n < 3:  # 2 to train on, 1 held out
        assert code == 2
        assert err.splitlines() == [
            f"vaegan run: error: {folder} holds {n} readable image(s), 1 to train on and {n - 1} held "
            "out; vaegan needs at least 2 to train on (the prior fitted to their latents needs a spread) and 1 held "
            "out (--val-fraction): add images"
        ]
        assert not run.exists()  # refused before any work
        return
    assert code == 0, err
    held_out = max(1, round(n * 0.1))
    for stage in ("vae", "gan"):
        records = [json.loads(line) for line in (run / stage / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in records if "epoch" in r] == [1]  # exactly the epoch asked for
        measured = "quality/fid" in records[-1]
        assert measured == (held_out >= 2), (stage, records[-1])
        if measured:
            assert {"quality/precision", "quality/coverage", "quality/fid_reference"} <= set(records[-1])
    summary = (run / "summary.txt").read_text()
    if held_out < 2:
        assert "FID not measured: 1 held-out image(s), and FID needs at least 2" in summary
        assert "FID & co. need at least 2 images per side, and there are 1: they are skipped" in err
    else:
        assert "real training images (the floor at this count): " in summary
    if 2 <= held_out <= 5:
        assert f"only {held_out} images per side for FID & co., so the k-NN metrics use fewer neighbours" in err
    assert (run / "report.html").is_file() and (run / "progress.gif").is_file()


def test_train_vae_refuses_a_folder_too_small_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, run = folder_of(2, tmp_path), tmp_path / "run"
    assert main(["train-vae", "--data", str(folder), "--out", str(run), *TINY_FLAGS]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "needs at least 2 to train on" in err
    assert not run.exists() or not any(run.iterdir())  # at most the empty folder its writability check makes


def test_a_folder_too_small_for_fid_trains_no_feature_net_and_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a time limit the feature net trained before the VAE, 29 s for 3 images, then FID was skipped. On a
    CPU without bf16 instructions the run's first line says how long to expect."""
    from vaegan.training import feature_net

    def never(*_: object, **__: object) -> None:
        raise AssertionError("the feature net was trained for FID that is skipped")

    monkeypatch.setattr(feature_net, "feature_net_for", never)
    monkeypatch.setattr("vaegan.pipeline.feature_net_for", never)
    monkeypatch.setattr("vaegan.training.placement.has_bf16", lambda cpuinfo=None: False)  # an AVX2-only CPU
    folder, run, config = folder_of(3, tmp_path), tmp_path / "run", tmp_path / "small.toml"
    config.write_text(SMALL_TOML)
    argv = ["run", "--data", str(folder), "--out", str(run), "--config", str(config), *SMALL, "--max-minutes", "60"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("FID & co. need at least 2 images per side, and there are 1: they are skipped, and so is ") == 1
    # and, first of all, how long a run takes on a CPU without bf16 instructions
    assert err.splitlines()[0].startswith("this CPU lists no bf16 instructions (avx512_bf16, amx_bf16), so steps ")


def test_a_tiny_folders_many_epochs_keep_their_grids_and_checkpoints_as_often_in_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--min-steps raises 2 training images' epochs (1 step each) from 30 to 60 and the GAN's from 20 to 60:
    a grid pair and a checkpoint in every one of them made a 3-image run folder 49 MB."""
    folder, run, config = folder_of(3, tmp_path), tmp_path / "run", tmp_path / "small.toml"
    config.write_text(SMALL_TOML)
    flags = [*SMALL[: SMALL.index("--epochs")], "--min-steps", "60", "--quality-every", "0"]  # the default epochs
    assert main(["run", "--data", str(folder), "--out", str(run), "--config", str(config), *flags]) == 0
    vae, gan = (json.loads((run / stage / "config.json").read_text()) for stage in ("vae", "gan"))
    assert (vae["train"]["epochs"], vae["train"]["grid_every"], vae["train"]["checkpoint_every"]) == (60, 2, 2)
    assert (gan["gan"]["epochs"], gan["gan"]["grid_every"], gan["gan"]["checkpoint_every"]) == (60, 3, 3)
    assert len(list((run / "vae" / "grids").glob("samples_e*.png"))) == 30
    assert len(list((run / "gan" / "grids").glob("samples_e*.png"))) == 21  # epoch 0's: the warm start
    err = capsys.readouterr().err
    assert "trains 60 epochs instead of 30 to reach 60 steps (--min-steps), with grids, checkpoints and FID" in err
