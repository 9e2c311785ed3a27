from pathlib import Path

import pytest

from vaegan.config import VAERunConfig, from_dict, read_toml, to_dict, vae_run_config
from vaegan.errors import VaeganError


def test_round_trip_through_dict() -> None:
    cfg = vae_run_config(data={"source": "mnist", "image_size": 28, "channels": 1}, loss={"reconstruction": "bce"})
    assert from_dict(VAERunConfig, to_dict(cfg)) == cfg
    assert cfg.model.output == "sigmoid" and cfg.model.value_range == (0.0, 1.0)


def test_unknown_keys_are_named() -> None:
    with pytest.raises(VaeganError, match="latent_dims"):
        from_dict(VAERunConfig, {"model": {"latent_dims": 3}})


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"train": {"epochs": 0}}, "epochs"),
        ({"loss": {"reconstruction": "l1"}}, "reconstruction"),
        ({"data": {"channels": 2}}, "channels"),
        ({"loss": {"beta": -1}}, "beta"),
        ({"train": {"max_minutes": -1.0}}, "max minutes must be >= 0"),
        ({"model": {"prior": "gauss"}}, "prior must be one of mixture, flow, got 'gauss'"),
    ],
)
def test_bad_values_raise_clear_errors(sections: dict, message: str) -> None:
    with pytest.raises(VaeganError, match=message):
        vae_run_config(**sections)


def test_bad_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[train\nepochs = 3")
    with pytest.raises(VaeganError, match="not valid TOML"):
        read_toml(tmp_path / "c.toml")


def test_the_dataclass_defaults_are_what_vaegan_run_trains_on_emoji(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One set of defaults: a config built in Python with no arguments trains what `vaegan run --data emoji`
    ships, section by section, and the GAN stage is what the pipeline hands the GAN."""
    import vaegan.pipeline
    from vaegan.cli import main
    from vaegan.config import DataConfig, GANConfig, LossConfig, ModelConfig, TrainConfig

    built: dict = {}
    monkeypatch.setattr(vaegan.pipeline, "run_pipeline", lambda vae, gan, out, **_: built.update(vae=vae, gan=gan))
    assert main(["run", "--data", "emoji", "--out", str(tmp_path / "run")]) == 0
    vae = built["vae"]
    assert vae.data == DataConfig(source="emoji")
    assert vae.model == ModelConfig()
    assert vae.loss == LossConfig()
    assert vae.train == TrainConfig()
    assert built["gan"] == GANConfig()
    assert vae == VAERunConfig()


def test_the_prior_is_chosen_in_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[model] prior has no flag (the flag count is capped): a TOML key reaches the run's config."""
    import vaegan.pipeline
    from vaegan.cli import main

    built: dict = {}
    monkeypatch.setattr(vaegan.pipeline, "run_pipeline", lambda vae, gan, out, **_: built.update(vae=vae))
    (tmp_path / "c.toml").write_text('[data]\nsource = "emoji"\n[model]\nprior = "flow"\n')
    assert main(["run", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run")]) == 0
    assert built["vae"].model.prior == "flow"


def test_grey_data_keeps_the_settings_measured_on_it() -> None:
    """The 28x28 grey kind changes size, batch, epochs and the reconstruction loss, and keeps the decoder,
    KL warm-up and loss terms it was measured with rather than colour's."""
    from vaegan.presets import dataset_defaults

    grey = vae_run_config(**dataset_defaults("fashion-mnist"))
    assert (grey.data.image_size, grey.data.channels, grey.model.image_size) == (28, 1, 28)
    assert grey.loss.reconstruction == "gaussian" and grey.train.batch_size == 128
    assert (grey.model.decoder_convs, grey.loss.kl_warmup_steps, grey.loss.msssim_weight) == (1, 0, 0.0)
    assert grey.model.prior_components == 100 and grey.train.min_steps == 300  # shared with colour
