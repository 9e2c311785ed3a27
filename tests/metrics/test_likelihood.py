"""ELBO / IWAE bounds and reconstruction metrics on tiny models: the maths, not the training."""

from __future__ import annotations

import math

import pytest
import torch

from tiny import tiny_config, tiny_splits
from vaegan.data import to_float
from vaegan.losses import reconstruction_loss
from vaegan.metrics.likelihood import bits_per_dim, likelihood_metrics, log_importance_weights, log_normaliser
from vaegan.models.vae import VAE


def tiny_vae(recon: str, kind: str = "vae") -> tuple[VAE, tuple[float, float]]:
    torch.manual_seed(0)
    cfg = tiny_config(recon, kind=kind)
    return VAE(cfg.model).eval(), cfg.model.value_range


@pytest.mark.parametrize("kind", ["mse_sum", "mse_mean"])
def test_gaussian_normaliser_matches_torch_normal(kind: str) -> None:
    dims = 3 * 16 * 16
    x, mu = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    variance = 0.5 if kind == "mse_sum" else dims / 2
    nll = -torch.distributions.Normal(mu, math.sqrt(variance)).log_prob(x).flatten(1).sum(1)
    ours = reconstruction_loss(mu, x, kind) + log_normaliser(kind, dims)
    torch.testing.assert_close(ours, nll, rtol=1e-5, atol=1e-3)


def test_bernoulli_bpd_is_nats_over_dims_ln2_and_gaussian_adds_the_bin_width() -> None:
    nll = torch.tensor([1000.0])
    assert float(bits_per_dim(nll, "bce", 784, (0.0, 1.0))) == pytest.approx(1000 / (784 * math.log(2)))
    # A uniform density on [-1, 1] has nll = D ln 2 nats; in 8-bit bins it is exactly log2(255) bits.
    uniform = torch.tensor([784 * math.log(2.0)])
    assert float(bits_per_dim(uniform, "mse_sum", 784, (-1.0, 1.0))) == pytest.approx(math.log2(255))


def test_iwae_with_one_sample_estimates_the_elbo() -> None:
    model, value_range = tiny_vae("bce")
    x = to_float(tiny_splits(n=64).train.images, value_range)
    with torch.no_grad():
        # k = 1, 400 times over: the mean of single-sample log weights is the ELBO up to MC noise.
        log_w = log_importance_weights(model, x, 400, "bce", torch.Generator().manual_seed(0))  # (400, B)
        posterior = model.encode(x)
        gen = torch.Generator().manual_seed(1)
        recs = torch.stack([reconstruction_loss(model.decode(posterior.sample(gen)), x, "bce") for _ in range(400)])
        elbo = -(recs.mean(0) + posterior.kl())
    torch.testing.assert_close(log_w.mean(0), elbo, rtol=0, atol=0.05 * float(elbo.abs().mean()))


def test_more_importance_samples_never_loosen_the_bound() -> None:
    model, value_range = tiny_vae("mse_sum")
    images = tiny_splits(n=32).train.images
    nll = {k: likelihood_metrics(model, images, "mse_sum", value_range, k=k)["nll_iwae"] for k in (1, 8, 64)}
    elbo = likelihood_metrics(model, images, "mse_sum", value_range, k=0)["nll_elbo"]
    assert nll[64] <= nll[8] <= nll[1] + 1e-3
    assert nll[1] == pytest.approx(elbo, rel=0.02)  # k = 1 is the ELBO, up to MC noise


def test_bernoulli_bound_equals_the_training_loss_and_ae_gets_only_reconstruction() -> None:
    model, value_range = tiny_vae("bce")
    images = tiny_splits(n=16).train.images
    m = likelihood_metrics(model, images, "bce", value_range, k=4)
    assert m["nll_elbo"] == pytest.approx(m["neg_elbo"])
    assert m["neg_elbo"] == pytest.approx(m["reconstruction"] + m["kl"], rel=1e-5)
    assert m["psnr"] == pytest.approx(10 * math.log10(1 / m["mse"]), abs=3.0)  # mean of logs vs log of mean

    ae, ae_range = tiny_vae("mse_sum", kind="ae")
    assert set(likelihood_metrics(ae, images, "mse_sum", ae_range, k=4)) == {"mse", "psnr"}


def test_psnr_of_a_perfect_reconstruction_is_capped_and_mse_is_on_the_unit_scale() -> None:
    class Identity(VAE):
        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.target

    model, value_range = tiny_vae("mse_sum", kind="ae")
    images = tiny_splits(n=12).train.images
    model.__class__ = Identity
    model.target = to_float(images, value_range) + 0.2  # 0.1 on the [0, 1] scale: MSE 0.01, PSNR 20 dB
    m = likelihood_metrics(model, images, "mse_sum", value_range, k=0)
    assert m["mse"] == pytest.approx(0.01, rel=1e-4)
    assert m["psnr"] == pytest.approx(20.0, rel=1e-4)


def test_kl_only_gets_no_likelihood_bound() -> None:
    model, value_range = tiny_vae("none")
    images = tiny_splits().val.images
    out = likelihood_metrics(model, images, "none", value_range, k=4)
    assert out["reconstruction"] == 0.0 and out["neg_elbo"] == pytest.approx(out["kl"])
    assert not {"nll_elbo", "nll_iwae", "bpd_elbo", "bpd_iwae"} & set(out)  # no decoder density: no bound
    assert out["psnr"] > 0
