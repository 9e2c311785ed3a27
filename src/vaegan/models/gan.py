"""The GAN's discriminators, one class per GANConfig.disc_kind; build_discriminator picks.
The generator is the VAE's Decoder itself (vaegan.models.vae.Decoder).

Every kind maps (B, C, S, S) images to logits: (B,) for the conv D, (B, P) for the projected D, a logit per
position; the losses average over every logit.
"""

from __future__ import annotations

import torch
from torch import nn

from vaegan.config import GANConfig, ModelConfig
from vaegan.models.blocks import down_block, downsample_sizes, widths
from vaegan.models.vae import Encoder

PATCH_MAP = 8  # a projected D's head judges a map of at most this many pixels across, a logit per position
PROJECTED_SCALES = 3  # the projected D judges the encoder's last maps, this many at most


class Discriminator(nn.Module):
    """(B, C, S, S) image -> logits (B,); D(x) = sigmoid(logit) is the probability that x is real.

    The encoder's conv stack (no normalisation: batch statistics would let D tell real and fake
    batches apart by their mix rather than by each image), then a linear head that weighs each
    position of the last map with weights of its own.
    """

    def __init__(self, image_size: int, channels: int, base_channels: int = 32) -> None:
        super().__init__()
        sizes = downsample_sizes(image_size)
        chans = widths(base_channels, len(sizes))
        blocks = [down_block(channels, chans[0])]
        blocks += [down_block(a, b) for a, b in zip(chans, chans[1:], strict=False)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(chans[-1] * sizes[-1] ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1)).squeeze(1)


class ProjectedDiscriminator(nn.Module):
    """Projected GAN (Sauer et al. 2021, arXiv:2111.01007) on the trained VAE's own encoder: D judges the
    encoder's frozen maps at its last PROJECTED_SCALES levels (16, 8 and 4 px at 64 px), not the image.

    Each map passes a fixed random 1x1 conv, the paper's cross-channel mixing (CCM), so no head can rest
    on a few of the encoder's channels, then a small trainable head `width` wide: a 3x3 conv, stride-2
    blocks down to at most PATCH_MAP px and a 3x3 conv to a logit per position. The logits of every scale
    are concatenated, (B, P), the loss their mean, as the paper's code does. The frozen parts take no
    weight gradients but pass input gradients: G learns through them, and R1 penalises the gradient at
    the image as for the conv D. The encoder is a copy held here, so D stands alone (its state dict,
    ranking samples); the paper's cross-scale mixing and its pretrained EfficientNet are left out.
    """

    def __init__(self, model: ModelConfig, *, width: int, encoder: Encoder | None = None) -> None:
        super().__init__()
        sizes = downsample_sizes(model.image_size)
        chans = widths(model.base_channels, len(sizes))
        self.encoder = Encoder(model).features  # the VAE encoder's conv stack: one map per level
        if encoder is not None:
            self.encoder.load_state_dict(encoder.features.state_dict(), strict=True)
        self.first = max(len(sizes) - PROJECTED_SCALES, 0)  # the first level judged
        levels = range(self.first, len(sizes))
        self.mix = nn.ModuleList(nn.Conv2d(chans[k], chans[k], 1, bias=False) for k in levels)
        self.heads = nn.ModuleList(scale_head(chans[k], width, sizes[k]) for k in levels)
        self.encoder.requires_grad_(False)
        self.mix.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = []
        for level, block in enumerate(self.encoder):
            x = block(x)  # (B, chans[level], sizes[level], sizes[level])
            if level >= self.first:
                scale = level - self.first
                logits.append(self.heads[scale](self.mix[scale](x)).flatten(1))
        return torch.cat(logits, 1)  # (B, P): every scale's positions


def scale_head(c_in: int, width: int, size: int) -> nn.Sequential:
    """The projected D's head on one (B, c_in, size, size) map -> (B, 1, s, s) logits, s <= PATCH_MAP."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    while size > PATCH_MAP and size % 2 == 0:
        layers.append(down_block(width, width))
        size //= 2
    layers.append(nn.Conv2d(width, 1, 3, padding=1))
    return nn.Sequential(*layers)


AnyDiscriminator = Discriminator | ProjectedDiscriminator


def build_discriminator(model: ModelConfig, gan: GANConfig, encoder: Encoder | None = None) -> AnyDiscriminator:
    """The discriminator of kind gan.disc_kind for the images `model` makes, `gan.disc_channels` wide. A new
    projected D is given the trained VAE's Encoder to copy; one whose weights are loaded next (a checkpoint)
    or that is only timed (the speed probe) needs none, and the conv D starts from random weights."""
    if gan.disc_kind == "projected":
        return ProjectedDiscriminator(model, width=gan.disc_channels, encoder=encoder)
    return Discriminator(model.image_size, model.channels, gan.disc_channels)
