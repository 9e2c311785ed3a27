"""Progress bars: on a terminal every long wait draws one; in CI logs and redirected output none does."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest
import torch

from tiny import tiny_config, tiny_splits
from vaegan import progress
from vaegan.metrics.inception_fid import embed_images
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.quality import embed
from vaegan.models.vae import VAE
from vaegan.training.common import Progress
from vaegan.training.feature_net import train_feature_net


class Terminal(io.StringIO):
    """stderr as a terminal would be: tqdm draws on it when asked to."""

    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> Terminal:
    """stderr becomes a terminal, outside CI. Called in the test body: pytest's output capture puts its own
    stderr back between fixture set-up and the test."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "DELAY", delay)  # 0: draw at once, the waits here are milliseconds
    return stream


class FakeInception:
    """Just enough of the FID Inception for embed_images: (B, C, H, W) -> (B, 2048)."""

    def to(self, device: torch.device) -> FakeInception:
        return self

    def eval(self) -> FakeInception:
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).mean(1, keepdim=True).expand(-1, 2048)


def train_features() -> None:
    train_feature_net(tiny_splits().train, steps=3, batch_size=4)


def likelihood() -> None:
    cfg = tiny_config("bce")
    likelihood_metrics(VAE(cfg.model).eval(), tiny_splits().val.images, "bce", cfg.model.value_range, k=2)


def own_features() -> None:
    embed(train_feature_net(tiny_splits().train, steps=1, batch_size=4), torch.rand(6, 3, 16, 16), desc="own: fake")


def inception_features() -> None:
    embed_images(FakeInception(), tiny_splits().val.images, "cpu", desc="fake")


WAITS: dict[str, tuple[Callable[[], None], str]] = {
    "feature network": (train_features, "feature network (classifier, once per dataset)"),
    "likelihood": (likelihood, "likelihood bounds (k=2)"),
    "own features": (own_features, "own: fake"),
    "inception": (inception_features, "Inception features: fake"),
}


@pytest.mark.parametrize("wait", sorted(WAITS))
def test_every_long_wait_draws_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch, wait: str) -> None:
    terminal = on_terminal(monkeypatch)
    run, label = WAITS[wait]
    run()
    assert label in terminal.getvalue()


@pytest.mark.parametrize("wait", sorted(WAITS))
def test_ci_logs_get_no_bar(monkeypatch: pytest.MonkeyPatch, wait: str) -> None:
    terminal = on_terminal(monkeypatch)
    monkeypatch.setenv("CI", "true")
    WAITS[wait][0]()
    assert terminal.getvalue() == ""


def test_redirected_output_gets_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    redirected = io.StringIO()  # a file or a pipe: isatty() is False
    monkeypatch.setattr(sys, "stderr", redirected)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    train_features()
    assert redirected.getvalue() == ""


@pytest.mark.parametrize(("ci", "wanted"), [(None, True), ("true", False), ("1", False), ("false", True)])
def test_training_follows_the_same_rule(monkeypatch: pytest.MonkeyPatch, ci: str | None, wanted: bool) -> None:
    on_terminal(monkeypatch)
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    assert progress.bars_wanted() is wanted
    assert Progress("vae", 2).interactive is wanted


def test_short_waits_never_flash_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = on_terminal(monkeypatch, delay=progress.DELAY)
    with progress.progress_bar(3, "quick") as bar:  # nothing this fast draws
        bar.update(3)
    assert stream.getvalue() == ""
