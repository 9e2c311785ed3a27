"""The GAN's discriminators, one class per GANConfig.disc_kind (DISCRIMINATORS); build_discriminator picks.
The generator is the VAE's Decoder itself (vaegan.models.vae.Decoder).

Every kind maps (B, C, S, S) images to logits; called with `real=k` (the first k images are real) it
returns (logits, D's own loss on those k): the self-supervised D's reconstruction error, 0 for the
others. That loss is computed inside forward so that DistributedDataParallel sees every weight D trains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaegan.config import GANConfig, ModelConfig
from vaegan.models.blocks import down_block, downsample_sizes, up_block, widths
from vaegan.models.vae import Encoder

PATCH_MAP = 8  # a projected D's head judges a map of at most this many pixels across, a logit per position
PROJECTED_SCALES = 3  # the projected D judges the encoder's last maps, this many at most
MAX_UPSAMPLING = 3  # x2 steps of a self-supervised decoder at most

Judged = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # logits, or (logits, D's own loss) with real=k


def no_loss(logits: torch.Tensor) -> torch.Tensor:
    """The own loss of a D that has none: a float32 zero on the logits' device."""
    return logits.new_zeros((), dtype=torch.float32)


class Discriminator(nn.Module):
    """(B, C, S, S) image -> logits (B,); D(x) = sigmoid(logit) is the probability that x is real.

    The encoder's conv stack (no normalisation: batch statistics would let D tell real and fake
    batches apart by their mix rather than by each image), then a linear head that weighs each
    position of the last map with weights of its own.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        base_channels: int = 32,
    ) -> None:
        super().__init__()
        sizes = downsample_sizes(image_size)
        chans = widths(base_channels, len(sizes))
        blocks = [down_block(channels, chans[0])]
        blocks += [down_block(a, b) for a, b in zip(chans, chans[1:], strict=False)]
        self.features = nn.Sequential(*blocks)
        self.maps = list(zip(chans, sizes, strict=True))  # (channels, size) of each block's output
        self.head = nn.Linear(chans[-1] * sizes[-1] ** 2, 1)

    @classmethod
    def for_config(cls, model: ModelConfig, gan: GANConfig, encoder: Encoder | None = None) -> Discriminator:
        """The discriminator a GAN stage with settings `gan` trains on the images `model` makes, from random
        weights: it has no use for the VAE's `encoder` (build_discriminator's argument for every kind)."""
        return cls(model.image_size, model.channels, gan.disc_channels)

    def forward(self, x: torch.Tensor, *, real: int = 0) -> Judged:
        logits = self.judge(self.features(x))
        return (logits, no_loss(logits)) if real else logits

    def judge(self, last: torch.Tensor) -> torch.Tensor:
        """Logits (B,) from D's last map (B, c, s, s)."""
        return self.head(last.flatten(1)).squeeze(1)


class SelfSupervisedDiscriminator(Discriminator):
    """The conv D plus two small decoders trained on real images only (FastGAN, Liu et al. 2021,
    arXiv:2101.04775): one rebuilds the whole image, area-downsampled, from D's last map; the other a
    random quarter of it from that quarter of the map before (of the last map when D has one). Their
    per-pixel L1 error, the norm of the paper's eq. 1 (its code's LPIPS needs downloaded weights), joins
    D's loss at weight 1: D must keep features that describe the images, not only those that tell real
    from fake, the paper's remedy for a D that memorises few images. The decoders never touch the
    logits, so G's step is the conv D's.
    """

    def __init__(self, image_size: int, channels: int, base_channels: int = 32) -> None:
        super().__init__(image_size, channels, base_channels)
        self.split = max(len(self.maps) - 1, 1)  # blocks up to the map the quarter decoder reads
        (c_last, s_last), (c_part, s_part) = self.maps[-1], self.maps[self.split - 1]
        self.whole = reconstructor(c_last, base_channels, size=s_last, region=image_size, channels=channels)
        self.quarter = reconstructor(c_part, base_channels, size=s_part // 2, region=image_size // 2, channels=channels)

    def forward(self, x: torch.Tensor, *, real: int = 0) -> Judged:
        if not real:
            return super().forward(x)
        before = self.features[: self.split](x)  # (B, c_part, s_part, s_part)
        last = self.features[self.split :](before)  # (B, c_last, s_last, s_last); `before` if D has one block
        return self.judge(last), self.reconstruction_error(x[:real], before[:real], last[:real])

    def reconstruction_error(self, real: torch.Tensor, before: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """Both decoders' per-pixel mean L1 error on the real images and their maps, summed."""
        row, col = divmod(int(torch.randint(4, ())), 2)  # torch's global generator: a resume restores it
        whole = l1_to(self.whole(last), real)
        return whole + l1_to(self.quarter(quarter_of(before, row, col)), quarter_of(real, row, col))


def reconstructor(c_in: int, width: int, *, size: int, region: int, channels: int) -> nn.Sequential:
    """(B, c_in, size, size) -> (B, channels, n, n): resize-conv x2 steps `width` wide while n fits in
    `region` px, MAX_UPSAMPLING at most, then a 3x3 conv to the image's channels. No norm layers, as in D."""
    layers: list[nn.Module] = []
    while size * 2 <= region and len(layers) < MAX_UPSAMPLING:
        layers.append(up_block(width if layers else c_in, width, "resize"))
        size *= 2
    layers.append(nn.Conv2d(width if layers else c_in, channels, 3, padding=1))
    return nn.Sequential(*layers)


def quarter_of(x: torch.Tensor, row: int, col: int) -> torch.Tensor:
    """Quarter (row, col) of (B, C, H, W) maps or images, rows and columns 0 or 1: (B, C, H/2, W/2)."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return x[..., row * h : (row + 1) * h, col * w : (col + 1) * w]


def l1_to(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per-pixel mean |reconstruction - images|, the images area-downsampled to the reconstruction's size."""
    target = F.adaptive_avg_pool2d(images.detach(), (reconstruction.shape[-2], reconstruction.shape[-1]))
    return F.l1_loss(reconstruction.float(), target.float())


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

    @classmethod
    def for_config(cls, model: ModelConfig, gan: GANConfig, encoder: Encoder | None = None) -> ProjectedDiscriminator:
        """A new D copies the trained VAE's `encoder`; one whose weights are loaded next needs none."""
        return cls(model, width=gan.disc_channels, encoder=encoder)

    def forward(self, x: torch.Tensor, *, real: int = 0) -> Judged:
        logits = []
        for level, block in enumerate(self.encoder):
            x = block(x)  # (B, chans[level], sizes[level], sizes[level])
            if level >= self.first:
                scale = level - self.first
                logits.append(self.heads[scale](self.mix[scale](x)).flatten(1))
        judged = torch.cat(logits, 1)  # (B, P): every scale's positions
        return (judged, no_loss(judged)) if real else judged


def scale_head(c_in: int, width: int, size: int) -> nn.Sequential:
    """The projected D's head on one (B, c_in, size, size) map -> (B, 1, s, s) logits, s <= PATCH_MAP."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
    while size > PATCH_MAP and size % 2 == 0:
        layers.append(down_block(width, width))
        size //= 2
    layers.append(nn.Conv2d(width, 1, 3, padding=1))
    return nn.Sequential(*layers)


AnyDiscriminator = Discriminator | ProjectedDiscriminator  # the self-supervised D is a Discriminator
DISCRIMINATORS: dict[str, type[Discriminator] | type[ProjectedDiscriminator]] = {
    "conv": Discriminator,
    "projected": ProjectedDiscriminator,
    "selfsup": SelfSupervisedDiscriminator,
}


def build_discriminator(model: ModelConfig, gan: GANConfig, encoder: Encoder | None = None) -> AnyDiscriminator:
    """The discriminator of kind gan.disc_kind for the images `model` makes. A new one is given the trained
    VAE's Encoder (the projected D copies it); one whose weights are loaded next (a checkpoint) or that is
    only timed (the speed probe) needs none."""
    return DISCRIMINATORS[gan.disc_kind].for_config(model, gan, encoder)
