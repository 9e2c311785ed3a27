import math

import pytest
import torch

from vaegan import losses
from vaegan.ssim import ms_ssim


def test_kl_of_standard_normal_is_zero() -> None:
    assert losses.kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).tolist() == [0.0, 0.0, 0.0]


def test_kl_matches_hand_computed_value() -> None:
    # One dim, mean 1, variance e: 0.5 * (1 + e - 1 - 1) = 0.5 * (e - 1)
    kl = losses.kl_standard_normal(torch.tensor([[1.0]]), torch.tensor([[1.0]]))
    assert kl.item() == pytest.approx(0.5 * (math.e - 1))
    # Sums over dimensions, per image.
    kl2 = losses.kl_standard_normal(torch.ones(2, 3), torch.ones(2, 3))
    assert kl2.tolist() == pytest.approx([1.5 * (math.e - 1)] * 2)


def test_reconstruction_reductions() -> None:
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.full((2, 1, 2, 2), 0.5)
    assert losses.reconstruction_loss(x_hat, x, "mse_sum").tolist() == [1.0, 1.0]  # 4 pixels * 0.25
    assert losses.reconstruction_loss(x_hat, x, "mse_mean").tolist() == [0.25, 0.25]
    # BCE of p = 0.5 against 0 is log 2 per pixel.
    assert losses.reconstruction_loss(x_hat, x, "bce").tolist() == pytest.approx([4 * math.log(2)] * 2)


def test_bce_saturated_output_stays_finite() -> None:
    x = torch.ones(1, 1, 2, 2)
    assert torch.isfinite(losses.reconstruction_loss(torch.zeros(1, 1, 2, 2), x, "bce")).all()


def test_bce_of_a_diverged_output_is_nan_not_an_error() -> None:
    """A NaN pixel makes its image's loss NaN (for the divergence check), the others' loss unchanged."""
    x = torch.rand(2, 1, 4, 4)
    x_hat = torch.rand(2, 1, 4, 4, requires_grad=True)
    clean = losses.reconstruction_loss(x_hat, x, "bce")
    broken = x_hat.detach().clone()
    broken[0, 0, 1, 2] = float("nan")
    loss = losses.reconstruction_loss(broken, x, "bce")
    assert math.isnan(loss[0]) and torch.equal(loss[1], clean[1].detach())


def test_kl_warmup_is_linear() -> None:
    assert losses.kl_weight(0, 2.0, 100) == 0.0
    assert losses.kl_weight(50, 2.0, 100) == 1.0
    assert losses.kl_weight(500, 2.0, 100) == 2.0
    assert losses.kl_weight(0, 2.0, 0) == 2.0


def test_vae_loss_combines_terms_with_beta() -> None:
    x = torch.zeros(2, 1, 2, 2)
    out = losses.vae_loss(torch.full_like(x, 0.5), x, torch.tensor([1.0, 3.0]), "mse_sum", beta=0.5)
    assert out["reconstruction"].item() == 1.0
    assert out["kl"].item() == 2.0
    assert out["total"].item() == 2.0


def test_gan_losses_match_textbook_formulas() -> None:
    logits = torch.tensor([0.0, 2.0])
    d = torch.sigmoid(logits)
    assert losses.generator_loss(logits, "nonsaturating").item() == pytest.approx((-torch.log(d)).mean().item())
    assert losses.generator_loss(logits, "minimax").item() == pytest.approx(torch.log(1 - d).mean().item())
    assert losses.generator_loss(logits, "hinge").item() == pytest.approx(-1.0)
    real, fake = torch.tensor([1.0]), torch.tensor([-1.0])
    expected = -(torch.log(torch.sigmoid(real)) + torch.log(1 - torch.sigmoid(fake))).item()
    assert losses.discriminator_loss(real, fake, "nonsaturating").item() == pytest.approx(expected)
    assert losses.discriminator_loss(real, fake, "minimax").item() == pytest.approx(expected)
    assert losses.discriminator_loss(torch.tensor([0.5]), torch.tensor([-0.25]), "hinge").item() == pytest.approx(1.25)


def test_kl_only_loss_is_zero_at_the_prior() -> None:
    x = torch.rand(3, 1, 4, 4)
    prior_kl = losses.kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5))  # q(z|x) = N(0, I)
    out = losses.vae_loss(torch.rand(3, 1, 4, 4), x, prior_kl, "none", beta=1.0)
    assert out["total"].item() == 0.0
    assert out["reconstruction"].item() == 0.0
    # Away from the prior it is beta * KL alone, whatever the images.
    kl = losses.kl_standard_normal(torch.ones(3, 5), torch.zeros(3, 5))
    assert losses.vae_loss(x, torch.zeros_like(x), kl, "none", beta=2.0)["total"].item() == pytest.approx(5.0)


def test_kl_only_loss_gives_the_decoder_a_zero_gradient() -> None:
    from tiny import tiny_config, tiny_splits
    from vaegan.data import to_float
    from vaegan.models.vae import VAE

    cfg = tiny_config("none")
    torch.manual_seed(0)
    model = VAE(cfg.model)
    x = to_float(tiny_splits().train.images[:4], cfg.model.value_range)
    x_hat, posterior = model(x, generator=torch.Generator().manual_seed(0))
    losses.vae_loss(x_hat, x, posterior.kl(), "none", beta=1.0)["total"].backward()
    decoder = [p.grad for p in model.decoder.parameters()]
    assert all(g is not None and not g.any() for g in decoder)  # zero, not missing: DDP needs every gradient
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_r1_is_zero_for_a_constant_discriminator() -> None:
    from torch import nn

    from vaegan.losses import r1_penalty

    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    constant = nn.Conv2d(3, 1, 8)
    nn.init.zeros_(constant.weight)  # D(x) = bias for every x
    assert torch.equal(r1_penalty(constant(x).flatten(), x), torch.zeros(4))
    ignoring = torch.ones(4, requires_grad=True) * 2.0  # logits that do not depend on x at all
    assert torch.equal(r1_penalty(ignoring, x), torch.zeros(4))


def test_r1_is_the_squared_input_gradient_of_a_linear_discriminator() -> None:
    from vaegan.losses import r1_penalty

    w = torch.randn(3 * 8 * 8, requires_grad=True)
    x = torch.randn(5, 3, 8, 8, requires_grad=True)
    penalty = r1_penalty(x.flatten(1) @ w, x)
    assert torch.allclose(penalty, w.detach().pow(2).sum().expand(5))
    penalty.mean().backward()  # the graph was kept: the penalty trains D's weights (d/dw ||w||^2 = 2w)
    assert w.grad is not None and torch.allclose(w.grad, 2 * w.detach())


def test_gaussian_loss_is_the_normal_nll_at_the_batch_optimal_variance() -> None:
    torch.manual_seed(0)
    x, x_hat = torch.rand(4, 3, 8, 8) * 2 - 1, torch.rand(4, 3, 8, 8) * 2 - 1
    variance = (x_hat - x).pow(2).mean()
    nll = -torch.distributions.Normal(x_hat, variance.sqrt()).log_prob(x).flatten(1).sum(1)
    loss = losses.reconstruction_loss(x_hat, x, "gaussian")
    assert torch.allclose(loss, nll, rtol=1e-5)
    for other in (variance * 0.8, variance * 1.25):  # the batch MSE is the variance that fits best
        worse = -torch.distributions.Normal(x_hat, other.sqrt()).log_prob(x).flatten(1).sum(1)
        assert worse.sum() > loss.sum()


def test_gaussian_loss_weights_errors_more_as_reconstructions_improve() -> None:
    x = torch.zeros(2, 1, 4, 4)
    close, far = torch.full_like(x, 0.05).requires_grad_(), torch.full_like(x, 0.5).requires_grad_()
    losses.reconstruction_loss(close, x, "gaussian").sum().backward()
    losses.reconstruction_loss(far, x, "gaussian").sum().backward()
    assert close.grad is not None and far.grad is not None
    assert close.grad.abs().mean() > 5 * far.grad.abs().mean()  # 1/sigma grows faster than the error falls


def test_r1_counts_a_per_position_discriminators_logits_by_their_per_image_mean() -> None:
    """P equal logits per image (a projected D's) penalise as their one shared logit would: gamma means the
    same for every kind of D."""
    from vaegan.losses import r1_penalty

    w = torch.randn(3 * 8 * 8)
    x = torch.randn(5, 3, 8, 8, requires_grad=True)
    one = x.flatten(1) @ w
    assert torch.allclose(r1_penalty(one.unsqueeze(1).expand(5, 16), x), r1_penalty(one, x))


def test_msssim_weight_adds_its_term_to_the_training_total_only() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    x_hat = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    kl = torch.rand(4)
    plain = losses.vae_loss(x_hat, x, kl, "mse_sum", 1.0)
    sharp = losses.vae_loss(x_hat, x, kl, "mse_sum", 1.0, msssim_weight=0.5, value_range=(-1.0, 1.0))
    assert "msssim" not in plain and torch.equal(sharp["reconstruction"], plain["reconstruction"])
    # per pixel, summed over the image's pixels; luminance on the values as given (losses.msssim_term)
    term = (1 - ms_ssim(x_hat, x, (0.0, 2.0))).mean() * 3 * 32 * 32
    torch.testing.assert_close(sharp["msssim"], term)
    torch.testing.assert_close(sharp["total"], plain["total"] + 0.5 * term)
    assert float(losses.msssim_term(x, x, (-1.0, 1.0)).abs().max()) < 1e-3  # a perfect reconstruction costs 0
