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
    ],
)
def test_bad_values_raise_clear_errors(sections: dict, message: str) -> None:
    with pytest.raises(VaeganError, match=message):
        vae_run_config(**sections)


def test_bad_toml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[train\nepochs = 3")
    with pytest.raises(VaeganError, match="not valid TOML"):
        read_toml(tmp_path / "c.toml")
