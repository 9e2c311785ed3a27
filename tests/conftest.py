"""Suite-wide settings: one thread per test process (deterministic, and polite on a 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def quick_feature_net(monkeypatch: pytest.MonkeyPatch) -> None:
    """A feature net trained for a few steps stands in for the cached one: same code path, seconds not minutes."""
    from vaegan.training import feature_net

    def few_steps(data, splits, cache, **_: object):  # type: ignore[no-untyped-def]
        return feature_net.train_feature_net(splits.train, steps=5, seed=0)

    monkeypatch.setattr(feature_net, "feature_net_for", few_steps)
    monkeypatch.setattr("vaegan.pipeline.feature_net_for", few_steps)
