"""Suite-wide settings: one thread per test process (deterministic, and polite on a 2-core machine)."""

import logging
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """`vaegan.cli.main` points the root logger at this test's stderr, which capture closes after it: a later
    test's log line would write "--- Logging error ---" into its own captured output."""
    level, before = logging.root.level, set(logging.root.handlers)
    yield
    for handler in logging.root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:  # pytest's own are subclasses
            logging.root.removeHandler(handler)
    logging.root.setLevel(level)


@pytest.fixture
def quick_feature_net(monkeypatch: pytest.MonkeyPatch) -> None:
    """A feature net trained for a few steps stands in for the cached one: same code path, seconds not minutes."""
    from vaegan.training import feature_net

    def few_steps(data, splits, cache, **_: object):  # type: ignore[no-untyped-def]
        return feature_net.train_feature_net(splits.train, steps=5, seed=0)

    monkeypatch.setattr(feature_net, "feature_net_for", few_steps)
    monkeypatch.setattr("vaegan.pipeline.feature_net_for", few_steps)
