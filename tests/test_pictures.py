"""The pictures' own logic, apart from the CLI: what the attribute direction is averaged over."""

from __future__ import annotations

import pytest
import torch

from tiny import tiny_config
from vaegan import latent, pictures
from vaegan.attributes import AttributeGroups
from vaegan.models.vae import VAE


def models() -> pictures.RunModels:
    cfg = tiny_config()
    vae = VAE(cfg.model).eval().requires_grad_(False)
    return pictures.RunModels(vae, vae.decode, "vae", cfg)


def groups(n_pos: int, n_neg: int) -> AttributeGroups:
    images = torch.randint(0, 255, (n_pos + n_neg, 3, 16, 16), dtype=torch.uint8)
    positive = torch.arange(n_pos + n_neg) < n_pos
    return AttributeGroups(images, positive, ~positive, "test")


def test_direction_of_small_groups_uses_every_image() -> None:
    run, found = models(), groups(5, 7)
    means, _ = run.encode_images(found.images)
    expected = latent.attribute_direction(means, found.positive, found.negative)
    assert torch.allclose(pictures.group_direction(run, found), expected, atol=1e-6)


def test_direction_of_large_groups_encodes_at_most_max_group_of_each(monkeypatch: pytest.MonkeyPatch) -> None:
    run, found = models(), groups(9, 30)
    monkeypatch.setattr(pictures, "MAX_GROUP", 4)
    seen: list[int] = []
    encode = run.encode_images

    def counting(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(len(images))
        return encode(images)

    monkeypatch.setattr(pictures.RunModels, "encode_images", lambda self, images: counting(images))
    direction = pictures.group_direction(run, found)
    assert seen == [8] and direction.shape == (run.cfg.model.latent_dim,)
