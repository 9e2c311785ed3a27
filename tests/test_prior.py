from pathlib import Path

import torch

from tiny import tiny_config, tiny_splits
from vaegan.prior import PRIOR_NAME, fit_mixture, fitted_prior
from vaegan.runs import open_run
from vaegan.training.train_vae import train_vae


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


def test_fitted_prior_samples_decode_to_images_and_are_saved_once(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vaegan.prior

    splits = tiny_splits(n=40)
    monkeypatch.setattr(vaegan.prior, "load_splits", lambda data: splits)
    train_vae(tiny_config(epochs=1), tmp_path, splits=splits)
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
