from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.distributions import MultivariateNormal

from tiny import tiny_config, tiny_splits
from vaegan.config import VAERunConfig
from vaegan.errors import VaeganError
from vaegan.prior import (
    PRIOR_NAME,
    component_log_probs,
    fit_mixture,
    fitted_prior,
    read_prior,
    through_prior,
    write_prior,
)
from vaegan.runs import open_run
from vaegan.training.train_vae import train_vae


def mixture_config(**model: object) -> VAERunConfig:
    """A tiny VAE whose fitted prior is the mixture (the default is the flow, test_flow_prior.py)."""
    cfg = tiny_config(epochs=1)
    return replace(cfg, model=replace(cfg.model, prior="mixture", **model))


def test_a_mixture_fitted_to_two_separate_clusters_samples_both() -> None:
    g = torch.Generator().manual_seed(0)
    left = torch.randn(300, 2, generator=g) * 0.1 + torch.tensor([-5.0, 0.0])
    right = torch.randn(100, 2, generator=g) * 0.1 + torch.tensor([5.0, 0.0])
    prior = fit_mixture(torch.cat([left, right]), components=2, iterations=30)
    z = prior.sample(2000, torch.Generator().manual_seed(1))
    share_right = float((z[:, 0] > 0).float().mean())
    assert abs(share_right - 0.25) < 0.05  # each cluster in proportion to its size
    assert z[:, 0].abs().min() > 3  # nothing in the empty middle, where N(0, I)-like sampling would land
    assert torch.allclose(z[z[:, 0] > 0].std(0), torch.full((2,), 0.1), atol=0.03)
    assert prior.log_prob(torch.tensor([[5.0, 0.0]])) > prior.log_prob(torch.tensor([[0.0, 0.0]])) + 100


def test_near_duplicate_latents_fit_without_a_singular_covariance() -> None:
    # An emoji in five skin tones, or a file copied twice, encodes to latents 1e-4 apart: a component on
    # such a group once had a covariance whose rounding outweighed its jitter, and Cholesky failed.
    g = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(40, 64, generator=g)
    near = centres.repeat_interleave(5, 0) + 1e-4 * torch.randn(200, 64, generator=g)
    exact = centres[:10].repeat_interleave(3, 0)
    z = torch.cat([torch.randn(600, 64, generator=g), near, exact])
    prior = fit_mixture(z, components=40, iterations=30)
    assert torch.isfinite(prior.log_prob(z)).all()
    assert torch.isfinite(prior.sample(100, torch.Generator().manual_seed(1))).all()


def test_fitted_prior_samples_decode_to_images_and_are_saved_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vaegan.prior

    splits = tiny_splits(n=40)
    monkeypatch.setattr(vaegan.prior, "load_splits", lambda data, run=None: splits)
    train_vae(mixture_config(), tmp_path, splits=splits)
    run = open_run(tmp_path)
    prior = fitted_prior(run, components=2)
    z = prior.sample(6, torch.Generator().manual_seed(0))
    assert z.shape == (6, 4) and z.dtype == torch.float32
    with torch.no_grad():
        assert run.vae().decode(z).shape == (6, 3, 16, 16)
    assert (tmp_path / PRIOR_NAME).is_file()
    monkeypatch.setattr(vaegan.prior, "fit_mixture", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
    again = fitted_prior(open_run(tmp_path), components=2)  # read from prior.pt, not fitted again
    assert torch.equal(again.means, prior.means)


def test_component_log_probs_equal_each_gaussians_density() -> None:
    # The fit computes Mahalanobis distances from z's outer products (two matmuls); check them against
    # torch's own multivariate normal on a mixture with correlated components.
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 5, generator=g, dtype=torch.float64) * 2
    prior = fit_mixture(z, components=3, iterations=5)
    expected = torch.stack(
        [
            prior.weights[k].log() + MultivariateNormal(prior.means[k], scale_tril=prior.scale_tril[k]).log_prob(z)
            for k in range(3)
        ],
        dim=1,
    )
    assert torch.allclose(component_log_probs(prior, z), expected, rtol=0, atol=1e-9)
    assert not torch.allclose(prior.scale_tril[0], torch.diag(prior.scale_tril[0].diagonal()))  # not diagonal


def test_the_fitted_prior_has_the_runs_component_count(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vaegan.prior

    splits = tiny_splits(n=80)
    monkeypatch.setattr(vaegan.prior, "load_splits", lambda data, run=None: splits)
    train_vae(mixture_config(prior_components=3), tmp_path, splits=splits)
    assert fitted_prior(open_run(tmp_path)).means.shape == (3, 4)


def test_temperature_scales_each_components_spread() -> None:
    g = torch.Generator().manual_seed(0)
    prior = fit_mixture(torch.randn(400, 2, generator=g) * 3, components=1, iterations=2)
    z = torch.zeros(4000, 2)  # through_prior only counts its rows
    full = through_prior(lambda x: x, prior, seed=1)(z)
    cooled = through_prior(lambda x: x, prior, seed=1, temperature=0.5)(z)
    assert torch.allclose(cooled - prior.means[0].float(), 0.5 * (full - prior.means[0].float()), atol=1e-5)


def test_a_small_folder_gets_fewer_components_and_the_log_says_why(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from vaegan.prior import fit_to_images

    splits = tiny_splits(n=48)  # 40 training images: room for 2 components of 20
    train_vae(mixture_config(), tmp_path, splits=splits)
    with caplog.at_level(logging.INFO, logger="vaegan.prior"):
        prior = fit_to_images(open_run(tmp_path).vae(), splits.train.images, components=5)
    assert prior.means.shape[0] == 2
    assert (
        "fitting a 2-component Gaussian mixture to 40 training images' latents "
        "(--prior-components 5, at most one per 20 images)" in caplog.text
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", "cannot read fitted prior"),
        ("a list", "is not a vaegan fitted prior; delete it"),
        ("flipped weight", "fails its checksum"),
        ("another dimension", "does not hold a 3-dimensional mixture of finite tensors; delete it"),
    ],
)
def test_a_damaged_or_forged_mixture_is_refused_in_one_line(tmp_path: Path, case: str, message: str) -> None:
    path, dim = tmp_path / PRIOR_NAME, 2
    write_prior(fit_mixture(torch.randn(40, 2, generator=torch.Generator().manual_seed(0)), 2), path, 1, 2)
    payload = torch.load(path, weights_only=True)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif case == "a list":
        torch.save([1, 2], path)
    elif case == "flipped weight":
        payload["weights"][0] += 0.5
        torch.save(payload, path)
    else:
        dim = 3
    with pytest.raises(VaeganError, match=message) as caught:
        read_prior(path, dim)
    assert "\n" not in str(caught.value)
