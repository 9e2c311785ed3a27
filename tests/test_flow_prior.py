import io
from pathlib import Path

import pytest
import torch

import vaegan.flow_prior
from tiny import tiny_config, tiny_splits
from vaegan.checkpoint import seal
from vaegan.errors import VaeganError
from vaegan.flow_prior import FLOW_FORMAT, FLOW_NAME, fit_flow, read_flow, saved_recipe, write_flow
from vaegan.prior import PRIOR_NAME, fitted_prior, sample_latents
from vaegan.runs import open_run
from vaegan.training.train_vae import train_vae

# A flow of a second on 400 points: what the tests below need of a recipe, not the one runs use.
TINY = {"width": 32, "depth": 2, "epochs": 100, "max_steps": 300, "batch": 64, "lr": 5e-3, "t_logit": 1.0}


def two_clusters() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    left = torch.randn(300, 2, generator=g) * 0.1 + torch.tensor([-5.0, 1.0])
    right = torch.randn(100, 2, generator=g) * 0.1 + torch.tensor([5.0, 1.0])
    return torch.cat([left, right])


def test_a_flow_fitted_to_two_clusters_samples_both_and_not_the_gap_between() -> None:
    flow = fit_flow(two_clusters(), TINY)
    z = flow.sample(1000, torch.Generator().manual_seed(1))
    assert z.shape == (1000, 2) and z.dtype == torch.float32
    share_right = float((z[:, 0] > 0).float().mean())
    assert 0.15 < share_right < 0.35  # each cluster about in proportion to its size (a quarter)
    assert float((z[:, 0].abs() > 3).float().mean()) > 0.9  # N(0, I) would put most in the middle
    assert abs(float(z[:, 1].mean()) - 1.0) < 0.3  # the un-normalised scale: the data's own centre


def test_fit_and_samples_are_deterministic_for_a_seed() -> None:
    first, second = fit_flow(two_clusters(), TINY), fit_flow(two_clusters(), TINY)
    assert all(torch.equal(a, b) for a, b in zip(first.field.parameters(), second.field.parameters(), strict=True))
    draw = lambda seed: first.sample(5, torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(3), draw(3)) and not torch.equal(draw(3), draw(4))
    other = fit_flow(two_clusters(), TINY, seed=1)
    assert not torch.equal(other.sample(5, torch.Generator().manual_seed(3)), draw(3))


def test_fitting_leaves_the_callers_random_stream_alone() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    fit_flow(two_clusters(), {**TINY, "max_steps": 2})
    assert torch.equal(torch.rand(3), expected)


def test_save_then_load_samples_bitwise_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vaegan.flow_prior, "RECIPE", TINY)  # the file names its recipe; read_flow checks it
    flow = fit_flow(two_clusters())
    write_flow(flow, tmp_path / FLOW_NAME, vae_step=7)
    loaded, step = read_flow(tmp_path / FLOW_NAME, latent_dim=2)  # type: ignore[misc]
    assert step == 7
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(loaded.sample(50, g1), flow.sample(50, g2))
    assert torch.load(tmp_path / FLOW_NAME, weights_only=True)["format"] == FLOW_FORMAT  # tensors and plain values


def saved(path: Path, payload: object) -> Path:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def sealed_flow(tmp_path: Path, **changes: object) -> dict:
    write_flow(fit_flow(two_clusters(), {**TINY, "max_steps": 2}), tmp_path / "good.pt", vae_step=1)
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    del payload["checksum"]
    return seal(payload | changes)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated", "cannot read flow prior"),
        ("a list", "is not a vaegan flow prior; delete it"),
        ("flipped mean", "fails its checksum"),
        ("another dimension", "does not hold a 3-dimensional flow of finite tensors; delete it"),
        ("a missing layer", "does not hold a 2-dimensional flow"),
        ("non-finite", "does not hold a 2-dimensional flow of finite tensors"),
    ],
)
def test_a_damaged_or_forged_flow_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, message: str
) -> None:
    monkeypatch.setattr(vaegan.flow_prior, "RECIPE", TINY)
    path, dim = tmp_path / FLOW_NAME, 2
    if case == "truncated":
        write_flow(fit_flow(two_clusters(), {**TINY, "max_steps": 2}), path, vae_step=1)
        path.write_bytes(path.read_bytes()[:300])
    elif case == "a list":
        saved(path, [torch.zeros(3)])
    elif case == "flipped mean":
        payload = sealed_flow(tmp_path)
        payload["mean"][0] += 1
        saved(path, payload)
    elif case == "another dimension":
        saved(path, sealed_flow(tmp_path))
        dim = 3
    elif case == "a missing layer":
        payload = sealed_flow(tmp_path)
        field = {k: v for k, v in payload["field"].items() if not k.startswith("project.")}
        assert len(field) < len(payload["field"])
        saved(path, sealed_flow(tmp_path, field=field))
    else:
        saved(path, sealed_flow(tmp_path, std=torch.tensor([1.0, float("nan")])))
    with pytest.raises(VaeganError, match=message) as caught:
        read_flow(path, dim)
    assert "\n" not in str(caught.value)


def test_a_flow_of_another_recipe_is_fitted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vaegan.flow_prior, "RECIPE", TINY)
    write_flow(fit_flow(two_clusters(), {**TINY, "max_steps": 2}), tmp_path / FLOW_NAME, vae_step=1)
    assert read_flow(tmp_path / FLOW_NAME, 2) is not None
    monkeypatch.setattr(vaegan.flow_prior, "RECIPE", {**vaegan.flow_prior.RECIPE, "width": 64})
    assert read_flow(tmp_path / FLOW_NAME, 2) is None
    before_levers_44 = {k: v for k, v in TINY.items() if k != "t_logit"}  # fitted on uniform t
    path = saved(tmp_path / "old.pt", sealed_flow(tmp_path, recipe=before_levers_44))
    monkeypatch.setattr(vaegan.flow_prior, "RECIPE", TINY)
    assert read_flow(path, 2) is None and saved_recipe(path) == before_levers_44


def test_the_fit_draws_t_by_the_recipes_spread() -> None:
    narrow, wide = (fit_flow(two_clusters(), {**TINY, "max_steps": 5, "t_logit": s}) for s in (0.5, 2.0))
    assert not torch.equal(narrow.field.out[1].weight, wide.field.out[1].weight)


def test_a_run_whose_prior_is_flow_samples_from_the_flow_saved_beside_it(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import vaegan.prior

    splits = tiny_splits(n=40)
    monkeypatch.setattr(vaegan.prior, "load_splits", lambda data, run=None: splits)
    train_vae(tiny_config(epochs=1), tmp_path, splits=splits)  # the default prior, a flow
    run = open_run(tmp_path)
    z = sample_latents(run, "vae", 6, torch.Generator().manual_seed(0))
    assert z.shape == (6, 4) and (tmp_path / FLOW_NAME).is_file() and not (tmp_path / PRIOR_NAME).exists()
    monkeypatch.setattr(vaegan.prior, "fit_flow", lambda *a, **k: (_ for _ in ()).throw(AssertionError("refit")))
    again = fitted_prior(open_run(tmp_path))  # read from flow_prior.pt, not fitted again
    assert torch.equal(again.sample(6, torch.Generator().manual_seed(0)), z)
    (tmp_path / FLOW_NAME).write_bytes(b"not a flow")
    with pytest.raises(VaeganError, match=f"cannot read flow prior {tmp_path / FLOW_NAME}: .*; delete it"):
        sample_latents(open_run(tmp_path), "vae", 6, torch.Generator().manual_seed(0))
