"""vaegan from Python: train a tiny run, open it, and every latent tool gives what the CLI and the maths say."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vaegan
from tiny import tiny_splits
from vaegan.cli import main
from vaegan.errors import VaeganError

TINY = {
    "image_size": 16,
    "latent_dim": 4,
    "base_channels": 4,
    "disc_channels": 4,
    "batch_size": 4,
    "grid_size": 8,
    "epochs": 2,
    "gan_epochs": 1,
    "device": "cpu",
    "precision": "fp32",
    "quality_every": 0,
    "val_fraction": 0.25,
    "min_steps": 0,
    "prior_components": 2,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Squares on white in two labelled subfolders, saved as files of another size than the model's."""
    root = tmp_path_factory.mktemp("pictures")
    for i, image in enumerate(tiny_splits(n=48).train.images):
        (root / ("left" if i % 2 else "right")).mkdir(exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).resize((24, 20)).save(
            root / ("left" if i % 2 else "right") / f"{i}.png"
        )
    return root


@pytest.fixture(scope="module")
def model(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> vaegan.Model:
    torch.set_num_threads(1)
    return vaegan.train(data=str(folder), out=tmp_path_factory.mktemp("run") / "run", progress=False, **TINY)


def test_train_writes_a_whole_run_and_returns_its_gan(model: vaegan.Model) -> None:
    assert model.stage == "gan"
    for name in ("vae_vs_gan.png", "summary.txt", "report.html", "vae/checkpoint.pt", "gan/checkpoint.pt"):
        assert (model.run.path / name).is_file(), name
    assert vaegan.load(model.run.path, stage="vae").stage == "vae"


def test_unknown_settings_and_presets_are_refused_by_name(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="unknown settings \\['epoch'\\]"):
        vaegan.train(data=str(folder), out=tmp_path / "x", epoch=3)
    with pytest.raises(VaeganError, match="unknown preset 'fast'"):
        vaegan.train(data=str(folder), out=tmp_path / "x", preset="fast")
    assert not (tmp_path / "x").exists()


def test_settings_without_a_flag_are_keywords_by_their_config_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vaegan.train takes a setting without a flag by its TOML key, into the section the file would set."""
    import vaegan.api
    import vaegan.pipeline

    built: dict = {}
    monkeypatch.setattr(vaegan.pipeline, "run_pipeline", lambda vae, gan, out, **_: built.update(vae=vae, gan=gan))
    monkeypatch.setattr(vaegan.api, "load", lambda out: None)
    vaegan.train(data="emoji", out=tmp_path / "run", grid_every=3, kl_warmup_steps=7, decoder_convs=1, beta1=0.0)
    vae, gan = built["vae"], built["gan"]
    assert (vae.train.grid_every, gan.grid_every) == (3, 3)  # run-wide: the GAN takes [train]'s, as with flags
    assert (vae.loss.kl_warmup_steps, vae.model.decoder_convs, gan.beta1) == (7, 1, 0.0)
    with pytest.raises(VaeganError, match="unknown settings \\['kl_warmup'\\]; .* config key \\(.*kl_warmup_steps"):
        vaegan.train(data="emoji", out=tmp_path / "x", kl_warmup=7)


def test_sample_is_the_grid_vaegan_sample_draws(model: vaegan.Model, tmp_path: Path) -> None:
    images = model.sample(6, seed=3)
    assert images.shape == (6, 3, 16, 16) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(model.sample(6, seed=3), images) and not torch.equal(model.sample(6, seed=4), images)
    assert main(["sample", str(model.run.path), "-n", "6", "--seed", "3", "-o", str(tmp_path)]) == 0
    with Image.open(tmp_path / "samples_gan_fitted.png") as drawn:
        assert np.array_equal(np.asarray(vaegan.to_pil(images)), np.asarray(drawn.convert("RGB")))


def test_images_go_in_as_paths_pil_images_or_tensors_alike(model: vaegan.Model, folder: Path) -> None:
    path = sorted(folder.rglob("*.png"))[0]
    with Image.open(path) as image:
        from_pil = model.encode(image)
    from_path = model.encode(path)
    from_tensor = model.encode(model.images(path).float() / 255)
    assert from_path.shape == (1, model.latent_dim)
    assert torch.equal(from_pil, from_path) and torch.allclose(from_tensor, from_path, atol=1e-6)
    with pytest.raises(VaeganError, match="must be \\(N, 3, 16, 16\\)"):
        model.encode(torch.zeros(1, 3, 8, 8))


def test_latent_tools_agree_with_each_other(model: vaegan.Model, folder: Path) -> None:
    a, b = sorted(folder.rglob("*.png"))[:2]
    recon = model.reconstruct([a, b])
    assert recon.shape == (2, 3, 16, 16)
    assert torch.equal(model.decode(model.encode([a, b])), recon)
    assert torch.equal(model.similar([a, b], 3, scale=0.0), recon.unsqueeze(1).expand(2, 3, 3, 16, 16))
    assert not torch.equal(model.similar([a, b], 3)[:, 0], recon)  # scale 1: variants, not the mean
    path = model.interpolate(a, b, 5, method="lerp")
    assert path.shape == (5, 3, 16, 16)
    assert torch.allclose(path[0], recon[0], atol=1.5 / 255) and torch.allclose(path[-1], recon[1], atol=1.5 / 255)


def test_an_unreadable_file_is_named_once_not_on_every_call(
    model: vaegan.Model, folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for path in sorted(folder.rglob("*.png"))[:2]:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "cut.png").write_bytes(b"")
    with caplog.at_level("WARNING", logger="vaegan"):
        first, again = model.reconstruct(tmp_path), model.reconstruct(tmp_path)
    assert torch.equal(first, again) and len(first) == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"skipped 1 of 3 files that could not be read: {tmp_path}/cut.png (empty file)"
    ]


def test_a_direction_from_labels_moves_images_and_zero_strength_keeps_them(model: vaegan.Model, folder: Path) -> None:
    direction = model.direction(label="left", versus="right")
    assert direction.shape == (model.latent_dim,) and float(direction.norm()) > 0
    images = sorted(folder.rglob("*.png"))[:2]
    swept = model.apply(images, direction, strengths=(-2, 0, 2))
    assert swept.shape == (2, 3, 3, 16, 16)
    assert torch.equal(swept[:, 1], model.reconstruct(images))
    assert not torch.equal(swept[:, 0], swept[:, 2])
    with pytest.raises(VaeganError, match="finite"):
        model.apply(images, direction, strengths=(float("nan"),))
    with pytest.raises(VaeganError, match="one of attribute= or label="):
        model.direction()


def test_to_pil_lays_rows_out_as_given(model: vaegan.Model, folder: Path) -> None:
    grid = vaegan.to_pil(model.similar(sorted(folder.rglob("*.png"))[:2], 3))
    assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # 3 per row, 16 px + 2 px padding


def test_held_out_images_are_the_runs_validation_split(model: vaegan.Model) -> None:
    images = model.held_out(5)
    assert images.shape == (5, 3, 16, 16) and images.dtype == torch.float32
    assert torch.equal(model.held_out(100)[:5], images) and len(model.held_out(100)) == 10  # a quarter of the 40 files


def test_the_api_is_listed_before_first_use_and_models_print_in_one_line(model: vaegan.Model) -> None:
    # what tab completion offers: the API alone, not typing's names or the submodules imported so far
    assert [name for name in dir(vaegan) if not name.startswith("_")] == sorted(vaegan.__all__)
    assert {"train", "load", "to_pil", "Model"} <= set(vaegan.__all__) and "__version__" in dir(vaegan)
    text = repr(model)
    assert "\n" not in text and len(text) < 200  # it printed about 100 lines of modules
    assert text == (f"vaegan.Model(stage='gan', run='{model.run.path}', latent_dim=4, images=3x16x16)")


def test_to_pil_reads_uint8_as_0_to_255_and_floats_as_0_to_1() -> None:
    pixels = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    from_uint8 = np.asarray(vaegan.to_pil(pixels, nrow=2))
    from_float = np.asarray(vaegan.to_pil(pixels.float() / 255, nrow=2))
    assert np.array_equal(from_uint8, from_float)  # a uint8 tensor came out almost white
    assert np.array_equal(from_uint8[2:6, 2:6], pixels[0].permute(1, 2, 0).numpy())
    assert np.array_equal(np.asarray(vaegan.to_pil(pixels[1]))[2:6, 2:6], pixels[1].permute(1, 2, 0).numpy())
    with pytest.raises(VaeganError, match="images must be"):
        vaegan.to_pil(torch.zeros(4, 4))


def test_direction_errors_name_python_parameters_not_cli_flags(model: vaegan.Model) -> None:
    with pytest.raises(VaeganError) as no_attributes:
        model.direction(attribute="smiling")  # a folder has no attributes
    assert "this dataset has none" in str(no_attributes.value) and "model.encode(" in str(no_attributes.value)
    assert "--" not in str(no_attributes.value)
    with pytest.raises(VaeganError) as one_sided:
        model.direction(label="left", versus="left")
    assert "versus=" in str(one_sided.value) and "--" not in str(one_sided.value)


def test_train_speaks_on_stderr_unless_told_not_to(
    model: vaegan.Model, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No logging configured (a script, a notebook): train printed nothing for 19 minutes."""
    import logging

    root = logging.getLogger()
    configured = root.handlers[:]
    root.handlers.clear()  # as in a fresh interpreter: the suite's own handlers hidden for the test
    try:
        vaegan.train(data=str(folder), out=model.run.path, **TINY)  # trained already: reloads and redraws
        spoken = capsys.readouterr().err
        vaegan.train(data=str(folder), out=model.run.path, progress=False, **TINY)
        quiet = capsys.readouterr().err
    finally:
        root.handlers[:] = configured
    assert f"data {folder}: 40 images" in spoken
    # quiet: no progress, only a warning that matters, such as this tiny run's collapse (metrics.collapse)
    assert all(line.startswith(("VAE: ", "GAN: ")) for line in quiet.splitlines()), quiet
    assert not logging.getLogger("vaegan").handlers  # nothing left behind
