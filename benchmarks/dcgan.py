"""The peer a user would pick instead of vaegan: DCGAN as pytorch/examples builds it (dcgan/main.py).

Radford et al. 2015 (arXiv:1511.06434): a transposed-conv generator and a conv discriminator, BatchNorm
in both (not on G's output nor D's input layer), ReLU in G and LeakyReLU(0.2) in D, tanh output, weights
from N(0, 0.02) and BatchNorm scales from N(1, 0.02), Adam 2e-4 with betas (0.5, 0.999), binary
cross-entropy with real = 1, fake = 0, and G trained to make D say 1 (the non-saturating loss).
Two changes, for the race against vaegan: the width is vaegan's (base 32 rather than 64: ngf = ndf = 32
and the same doubling, capped at 8x), and the number of stride-2 levels follows vaegan's size plan, so
28 px images start from 7x7 (64 px from 4x4, exactly pytorch/examples' 64 px network). D's logits go
through BCEWithLogits, the same loss as Sigmoid + BCELoss but stable. Images are in [-1, 1].
Its loop (Batches, train_dcgan) steps until a wall-clock budget: curve.py's peer point.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vaegan.data import to_float
from vaegan.models.blocks import downsample_sizes, widths
from vaegan.training.stopping import Clock

NZ = 100  # pytorch/examples' latent size


class Generator(nn.Module):
    """z (B, NZ) -> (B, C, S, S) in [-1, 1]."""

    def __init__(self, image_size: int, channels: int, ngf: int = 32, nz: int = NZ) -> None:
        super().__init__()
        sizes = downsample_sizes(image_size)
        chans = widths(ngf, len(sizes))[::-1]  # widest first, e.g. 256, 128, 64, 32 at 64 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, chans[0], sizes[-1], 1, 0, bias=False),  # (B, nz, 1, 1) -> (B, c, s, s)
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(True),
        ]
        for a, b in zip(chans, chans[1:], strict=False):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])


class Discriminator(nn.Module):
    """(B, C, S, S) in [-1, 1] -> (B,) logits."""

    def __init__(self, image_size: int, channels: int, ndf: int = 32) -> None:
        super().__init__()
        sizes = downsample_sizes(image_size)
        chans = widths(ndf, len(sizes))
        layers: list[nn.Module] = [nn.Conv2d(channels, chans[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(chans, chans[1:], strict=False):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(chans[-1], 1, sizes[-1], 1, 0, bias=False))  # (B, c, s, s) -> (B, 1, 1, 1)
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def dcgan_init(module: nn.Module) -> None:
    """pytorch/examples' weights_init: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), shift 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGAN:
    """Both networks on `device`, their optimisers and one training step; `sample` draws in eval mode."""

    def __init__(self, image_size: int, channels: int, width: int = 32, seed: int = 0, device: str = "cpu") -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.g = Generator(image_size, channels, width)
        self.d = Discriminator(image_size, channels, width)
        self.g.apply(dcgan_init)
        self.d.apply(dcgan_init)
        self.g.to(self.device)  # initialised on the CPU first: the same weights on any device
        self.d.to(self.device)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.noise = torch.Generator().manual_seed(seed + 1)  # on the CPU: the same z on any device

    def step(self, real: torch.Tensor) -> dict[str, float]:
        """One update of D then G on a batch of real images in [-1, 1] on the nets' device, as in pytorch/examples."""
        self.g.train()
        self.d.train()
        fake = self.g(torch.randn(len(real), NZ, generator=self.noise).to(self.device))
        # (1) update D: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=True)
        real_logits, fake_logits = self.d(real), self.d(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        d_loss.backward()
        self.opt_d.step()
        # (2) update G: maximise log D(G(z))
        self.opt_g.zero_grad(set_to_none=True)
        g_logits = self.d(fake)
        g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
        g_loss.backward()
        self.opt_g.step()
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach())}

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from (B, NZ) noise with BatchNorm in training mode (batch statistics), as
        pytorch/examples draws its samples: it never switches G to eval mode."""
        self.g.train()
        return self.g(z.to(self.device))


class Batches:
    """Random batches of uint8 images, a fresh permutation every pass over them (the DCGAN peer's loop)."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        self.images, self.batch_size = images, batch_size
        self.g = torch.Generator().manual_seed(seed)
        self.order, self.at = torch.randperm(len(images), generator=self.g), 0

    def next(self) -> torch.Tensor:
        if self.at + self.batch_size > len(self.order):
            self.order, self.at = torch.randperm(len(self.images), generator=self.g), 0
        index = self.order[self.at : self.at + self.batch_size]
        self.at += self.batch_size
        return self.images[index]


def train_dcgan(
    net: DCGAN, batches: Batches, budget: float, clock: Clock, after_step: Callable[[float, dict[str, float]], None]
) -> float:
    """DCGAN steps until `budget` seconds on `clock`, `after_step(seconds, losses)` after each; the seconds when
    training stopped."""
    seconds = 0.0
    while seconds < budget:
        losses = net.step(to_float(batches.next(), (-1.0, 1.0)).to(net.device))
        seconds = clock.seconds()
        after_step(seconds, losses)
    return seconds
