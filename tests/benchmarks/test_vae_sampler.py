"""benchmarks/vae_sampler.py: its cached VAE is the one the settings ask for."""

from __future__ import annotations

from quality import configs
from vae_sampler import weights_name


def test_cached_weights_are_keyed_by_what_the_vae_trains_with() -> None:
    preset = configs("fashion-mnist", None)[0]
    assert weights_name(preset, 15, 0, "fp32") == weights_name(configs("fashion-mnist", None)[0], 15, 0, "fp32")
    other_latent = configs("fashion-mnist", None, vae_overrides={"model": {"latent_dim": 16}})[0]
    other_beta = configs("fashion-mnist", None, vae_overrides={"loss": {"beta": 0.5}})[0]
    names = {weights_name(cfg, 15, 0, "fp32") for cfg in (preset, other_latent, other_beta)}
    assert len(names) == 3  # a changed preset or --vae-set trains its own VAE, never loads another's
    assert weights_name(preset, 15, 1, "fp32") != weights_name(preset, 15, 0, "fp32")
    assert weights_name(preset, 15, 0, "auto") != weights_name(preset, 15, 0, "fp32")
