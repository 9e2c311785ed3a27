"""benchmarks/vae_start.py: it tells a decoder whose output saturates from one that does not."""

from __future__ import annotations

import torch
from vae_start import decoder_state

from vaegan.config import ModelConfig
from vaegan.models.vae import VAE


def test_a_saturated_output_layer_is_reported_as_such() -> None:
    torch.manual_seed(0)
    vae = VAE(ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4, decoder_convs=2))
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    assert ", 0% beyond 3" in decoder_state(vae, x)  # a fresh decoder's output is small
    with torch.no_grad():
        vae.decoder.to_image.bias.fill_(100.0)  # every pixel deep in tanh's flat tail
    assert ", 100% beyond 3" in decoder_state(vae, x)
