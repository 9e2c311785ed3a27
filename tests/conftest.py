"""Suite-wide settings: one thread per test process (deterministic, and polite on a 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
