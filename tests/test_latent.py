import pytest
import torch

from vaegan import latent


def test_lerp_is_linear_and_keeps_endpoints() -> None:
    a, b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([-1.0, 4.0, 0.0])
    path = latent.interpolate(a, b, 5, "lerp")
    assert torch.equal(path[0], a) and torch.allclose(path[-1], b)
    steps = path[1:] - path[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-6)  # equal steps: a straight line
    assert torch.allclose(path[2], (a + b) / 2)


def test_slerp_keeps_endpoints_and_interpolates_norms() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g) * 1.5, torch.randn(16, generator=g) * 0.5
    path = latent.interpolate(a, b, 9, "slerp")
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    t = torch.linspace(0, 1, 9)
    assert torch.allclose(path.norm(dim=1), (1 - t) * a.norm() + t * b.norm(), atol=1e-4)
    # lerp's midpoint is shorter than both ends' average: slerp's is not, which is the reason to use it
    assert latent.interpolate(a, b, 9, "lerp")[4].norm() < path[4].norm() - 1e-3
    # directions move along the great circle: the angle to a grows evenly
    cos = torch.nn.functional.cosine_similarity(path, a.expand_as(path), dim=1).clamp(-1, 1)
    angles = torch.arccos(cos)
    assert torch.allclose(angles[1:] - angles[:-1], (angles[-1] / 8).expand(8), atol=1e-3)


def test_slerp_of_parallel_vectors_falls_back_to_lerp() -> None:
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(latent.interpolate(a, 3 * a, 3, "slerp"), latent.interpolate(a, 3 * a, 3, "lerp"))


def test_attribute_direction_recovers_a_planted_direction() -> None:
    g = torch.Generator().manual_seed(0)
    n, d = 400, 8
    planted = torch.zeros(d)
    planted[3], planted[5] = 2.0, -1.0
    has = torch.rand(n, generator=g) < 0.3
    z = torch.randn(n, d, generator=g) + has[:, None] * planted
    direction = latent.attribute_direction(z, has)
    assert torch.nn.functional.cosine_similarity(direction, planted, dim=0) > 0.95
    assert (direction - planted).norm() < 0.5


def test_attribute_direction_needs_both_groups() -> None:
    with pytest.raises(ValueError, match="both groups"):
        latent.attribute_direction(torch.randn(4, 2), torch.ones(4, dtype=torch.bool))


def test_apply_direction_sweeps_every_image() -> None:
    z, direction = torch.zeros(2, 3), torch.tensor([1.0, 0.0, 0.0])
    swept = latent.apply_direction(z, direction, torch.tensor([-1.0, 0.0, 2.0]))
    assert swept.shape == (2, 3, 3)
    assert swept[1, :, 0].tolist() == [-1.0, 0.0, 2.0] and swept[:, :, 1:].abs().sum() == 0


def test_similar_with_zero_scale_is_the_mean_and_noise_forms_differ() -> None:
    mean, std = torch.randn(3, 4), torch.full((3, 4), 0.1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(latent.similar_latents(mean, std, 5, 0.0, g), mean[:, None].expand(3, 5, 4))
    post = latent.similar_latents(mean, std, 50, 1.0, torch.Generator().manual_seed(1))
    iso = latent.similar_latents(mean, std, 50, 1.0, torch.Generator().manual_seed(1), posterior=False)
    assert torch.allclose(post - mean[:, None], 0.1 * (iso - mean[:, None]), atol=1e-6)  # same eps, scaled by sigma


def test_prior_latents_are_seeded_and_scaled() -> None:
    a = latent.prior_latents(4, 3, torch.Generator().manual_seed(7), temperature=0.5)
    b = latent.prior_latents(4, 3, torch.Generator().manual_seed(7))
    assert torch.allclose(a, 0.5 * b)


def test_pca_finds_the_plane_and_the_map_grid_spans_it() -> None:
    g = torch.Generator().manual_seed(0)
    plane = torch.randn(500, 2, generator=g) * torch.tensor([5.0, 2.0])
    z = torch.cat([plane, 0.01 * torch.randn(500, 4, generator=g)], 1) + 3.0
    points, mean, components = latent.pca_2d(z)
    assert torch.allclose(mean, z.mean(0))
    assert components[:2].abs().sum(0).min() > 0.99  # both components live in the first two dims
    assert points[:, 0].var() > points[:, 1].var()
    grid = latent.map_latents(mean, components, torch.tensor([-1.0, -2.0]), torch.tensor([1.0, 2.0]), 3)
    back = (grid - mean) @ components
    assert torch.allclose(back[0], torch.tensor([-1.0, 2.0]), atol=1e-5)  # top-left: low x, high y
    assert torch.allclose(back[-1], torch.tensor([1.0, -2.0]), atol=1e-5)


def test_kl_per_dim_sums_to_the_per_image_kl_and_counts_active_units() -> None:
    from vaegan.models.vae import DiagonalGaussian

    mean = torch.zeros(10, 3)
    mean[:, 0] = torch.linspace(-2, 2, 10)
    logvar = torch.zeros(10, 3)
    logvar[:, 1] = -2.0
    kl = latent.kl_per_dim(mean, logvar)
    assert torch.allclose(kl.sum(), DiagonalGaussian(mean, logvar).kl().mean())
    assert latent.active_units(kl).tolist() == [True, True, False]


def test_decode_and_encode_batched_match_one_batch() -> None:
    weight = torch.randn(3, 5)

    def decode(z: torch.Tensor) -> torch.Tensor:
        return z @ weight

    z = torch.randn(7, 3)
    assert torch.allclose(latent.decode_batched(decode, z, batch_size=2), decode(z))
    mean, logvar = latent.encode_batched(lambda x: (x[:, :2], x[:, 2:]), torch.randn(5, 4), batch_size=2)
    assert mean.shape == logvar.shape == (5, 2)
