"""The GAN discriminator. The generator is the VAE's Decoder itself (vaegan.models.vae.Decoder)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

from vaegan.models.blocks import down_block, downsample_sizes, widths


class Discriminator(nn.Module):
    """(B, C, S, S) image -> (B,) logits; D(x) = sigmoid(logit) is the probability that x is real.

    The encoder's conv stack (no normalisation: batch statistics would let D tell real and fake
    batches apart by their mix rather than by each image), optionally with spectral normalisation
    (Miyato et al. 2018) on every layer to bound D's Lipschitz constant.
    """

    def __init__(self, image_size: int, channels: int, base_channels: int = 32, spectral_norm: bool = False) -> None:
        super().__init__()
        sizes = downsample_sizes(image_size)
        chans = widths(base_channels, len(sizes))
        blocks = [down_block(channels, chans[0])]
        blocks += [down_block(a, b) for a, b in zip(chans, chans[1:], strict=False)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(chans[-1] * sizes[-1] ** 2, 1)
        if spectral_norm:
            for module in self.modules():
                if isinstance(module, nn.Conv2d | nn.Linear):
                    add_spectral_norm(module)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv layer's activations, for Larsen et al.'s feature-wise reconstruction anchor."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)
