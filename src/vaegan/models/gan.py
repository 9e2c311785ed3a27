"""The GAN discriminator. The generator is the VAE's Decoder itself (vaegan.models.vae.Decoder)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

from vaegan.config import DISC_HEADS, DiscHead, GANConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.models.blocks import down_block, downsample_sizes, widths
from vaegan.models.vae import Encoder

PATCH_MAP = 8  # the patch head judges the first of D's maps at most this many pixels across


def patch_sizes(image_size: int) -> list[int]:
    """The patch head's downsampling levels: down to the first map of at most PATCH_MAP px.

    64 -> [32, 16, 8] (8x8 logits, each seeing 38 px); 28 -> [14, 7]; 128 -> [64, 32, 16, 8].
    """
    sizes = downsample_sizes(image_size)
    small = [i for i, size in enumerate(sizes) if size <= PATCH_MAP]
    return sizes[: small[0] + 1] if small else sizes


class Discriminator(nn.Module):
    """(B, C, S, S) image -> logits: (B,) with the linear head, (B, P) with the patch head (P positions).
    D(x) = sigmoid(logit) is the probability that x (or that patch of x) is real; the losses average
    over every logit, so each patch is a classifier of its own.

    The encoder's conv stack (no normalisation: batch statistics would let D tell real and fake
    batches apart by their mix rather than by each image), optionally with spectral normalisation
    (Miyato et al. 2018) on every layer to bound D's Lipschitz constant. The linear head weighs each
    position of the last map with weights of its own; the patch head (PatchGAN, Isola et al. 2017, as
    taming-transformers' VQGAN uses it) is one 3x3 conv shared by every position, so a texture is judged
    the same wherever it appears.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        base_channels: int = 32,
        spectral_norm: bool = False,
        head: DiscHead = "linear",
        encoder: Encoder | None = None,
    ) -> None:
        super().__init__()
        if head not in DISC_HEADS:
            raise VaeganError(f"discriminator head must be one of {', '.join(DISC_HEADS)}, got {head!r}")
        sizes = patch_sizes(image_size) if head == "patch" else downsample_sizes(image_size)
        chans = widths(base_channels, len(sizes))
        blocks = [down_block(channels, chans[0])]
        blocks += [down_block(a, b) for a, b in zip(chans, chans[1:], strict=False)]
        self.features = nn.Sequential(*blocks)
        self.patch = head == "patch"
        self.head: nn.Module = (
            nn.Conv2d(chans[-1], 1, 3, padding=1) if self.patch else nn.Linear(chans[-1] * sizes[-1] ** 2, 1)
        )
        if encoder is not None:  # before spectral norm, which renames the weights it wraps
            self.start_from(encoder)
        if spectral_norm:
            for module in self.modules():
                if isinstance(module, nn.Conv2d | nn.Linear):
                    add_spectral_norm(module)

    @classmethod
    def for_config(cls, model: ModelConfig, gan: GANConfig, encoder: Encoder | None = None) -> Discriminator:
        """The discriminator a GAN stage with settings `gan` trains on the images `model` makes. A new D
        whose disc_init is "encoder" is given the trained VAE's Encoder to start from; a D whose weights
        are loaded next (a checkpoint) or that is only timed (the speed probe) needs none."""
        start = encoder if gan.disc_init == "encoder" else None
        return cls(model.image_size, model.channels, gan.disc_channels, gan.spectral_norm, gan.disc_head, start)

    def start_from(self, encoder: Encoder) -> None:
        """Copy the encoder's conv blocks into D's: all of them for the linear head, the first ones for the
        patch head, whose stack stops earlier. The widths must match (--disc-channels = the VAE's width)."""
        source = encoder.features.state_dict()
        mine = self.features.state_dict()
        if any(k not in source or source[k].shape != v.shape for k, v in mine.items()):
            raise VaeganError(
                "--disc-init encoder needs D's convs shaped as the encoder's; set --disc-channels to the VAE's "
                "base channels"
            )
        self.features.load_state_dict({k: source[k] for k in mine}, strict=True)

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv layer's activations, for Larsen et al.'s feature-wise reconstruction anchor."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch:
            return self.head(self.features(x)).flatten(1)
        return self.head(self.features(x).flatten(1)).squeeze(1)
