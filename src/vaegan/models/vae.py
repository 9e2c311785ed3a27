"""The convolutional VAE: Encoder -> DiagonalGaussian posterior -> Decoder, and the AE baseline.

The Decoder is also the GAN's generator (vaegan.training.train_gan warm-starts it with strict loading),
so it takes only z and has no encoder-specific state.
"""

from __future__ import annotations

import torch
from torch import nn

from vaegan.config import ModelConfig
from vaegan.losses import kl_standard_normal
from vaegan.models.blocks import down_block, downsample_sizes, up_block, upsample_conv, widths


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(exp(logvar))); a point mass at `mean` when `deterministic` (the AE)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor, deterministic: bool = False) -> None:
        self.mean = mean  # (B, latent_dim)
        # Clamped so exp() never overflows in a bad early step; the range covers std 3e-7 .. 2e4.
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.deterministic = deterministic

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        return self.mean

    def sample(self, generator: torch.Generator | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
        """Reparameterised z = mean + exp(logvar / 2) * eps, eps ~ N(0, I): differentiable in mean and logvar.

        Pass `eps` to use noise drawn elsewhere (the training loop draws it for the global batch).
        """
        if self.deterministic:
            return self.mean
        if eps is None:
            eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per image in nats, shape (B,); zero for the AE."""
        if self.deterministic:
            return self.mean.new_zeros(self.mean.shape[0])
        return kl_standard_normal(self.mean, self.logvar)


class Encoder(nn.Module):
    """(B, C, S, S) -> (B, 2 * latent_dim) for the VAE (mean and logvar), (B, latent_dim) for the AE."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        sizes = downsample_sizes(cfg.image_size)
        chans = widths(cfg.base_channels, len(sizes))
        blocks = [down_block(cfg.channels, chans[0])]
        blocks += [down_block(a, b) for a, b in zip(chans, chans[1:], strict=False)]
        self.features = nn.Sequential(*blocks)
        out = 2 * cfg.latent_dim if cfg.kind == "vae" else cfg.latent_dim
        self.head = nn.Linear(chans[-1] * sizes[-1] ** 2, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class Decoder(nn.Module):
    """z (B, latent_dim) -> image (B, C, S, S) in the data's value range (tanh or sigmoid output)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        sizes = downsample_sizes(cfg.image_size)
        chans = widths(cfg.base_channels, len(sizes))
        self.start = (chans[-1], sizes[-1], sizes[-1])
        self.project = nn.Sequential(
            nn.Linear(cfg.latent_dim, chans[-1] * sizes[-1] ** 2),
            nn.Unflatten(1, self.start),
            nn.ReLU(inplace=True),
        )
        rev = chans[::-1]
        self.upsample = nn.Sequential(
            *[up_block(a, b, cfg.upsample, cfg.decoder_convs) for a, b in zip(rev, rev[1:], strict=False)]
        )
        self.to_image = upsample_conv(chans[0], cfg.channels, cfg.upsample)
        self.activation = nn.Tanh() if cfg.output == "tanh" else nn.Sigmoid()
        # Memory format of the feature maps; training.common.place sets it. z has none, so the decoder
        # would otherwise run NCHW whatever the rest of the step does.
        self.layout = torch.contiguous_format

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = self.project(z).contiguous(memory_format=self.layout)
        return self.activation(self.to_image(self.upsample(features)))


class VAE(nn.Module):
    """encode(x) -> posterior, decode(z) -> image; forward(x) samples z and returns (x_hat, posterior)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        h = self.encoder(x)
        if self.cfg.kind == "ae":
            return DiagonalGaussian(h, torch.zeros_like(h), deterministic=True)
        mean, logvar = h.chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, DiagonalGaussian]:
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator, eps)), posterior
