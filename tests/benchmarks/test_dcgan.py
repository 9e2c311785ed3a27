"""The DCGAN peer: pytorch/examples' shapes and init, and it trains (weights change, losses finite) for its budget."""

from __future__ import annotations

import pytest
import torch
from dcgan import DCGAN, NZ, Batches, Discriminator, Generator, train_dcgan


@pytest.mark.parametrize(("size", "channels", "first"), [(28, 1, 7), (64, 3, 4), (16, 3, 4)])
def test_shapes_follow_the_size_plan(size: int, channels: int, first: int) -> None:
    g, d = Generator(size, channels, ngf=8), Discriminator(size, channels, ndf=8)
    assert g.main[0].kernel_size == (first, first)  # z -> a first x first map, as DCGAN's 4x4 at 64 px
    x = g(torch.randn(2, NZ))
    assert x.shape == (2, channels, size, size) and x.abs().max() <= 1
    assert d(x).shape == (2,)


def test_64px_matches_pytorch_examples_at_width_32() -> None:
    g = Generator(64, 3, ngf=32)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [256, 128, 64, 32, 3]  # ngf * 8, 4, 2, 1, then nc
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in Discriminator(64, 3, 32).modules())
    assert norms == 3  # every D layer but the first and the last


def test_init_and_one_step_change_both_networks() -> None:
    net = DCGAN(16, 3, width=8, seed=0)
    conv = net.g.main[0].weight
    assert abs(float(conv.detach().std()) - 0.02) < 0.005  # N(0, 0.02)
    before_g = [p.detach().clone() for p in net.g.parameters()]
    before_d = [p.detach().clone() for p in net.d.parameters()]
    real = torch.rand(8, 3, 16, 16) * 2 - 1
    for _ in range(2):
        losses = net.step(real)
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert all(not torch.equal(a, b) for a, b in zip(before_g, net.g.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, net.d.parameters(), strict=True))
    assert net.opt_g.param_groups[0]["lr"] == 2e-4 and net.opt_g.param_groups[0]["betas"] == (0.5, 0.999)
    assert net.sample(torch.randn(4, NZ)).shape == (4, 3, 16, 16)


class Ticks:
    """A clock one second further on at every look: the loop's budget counted in its own checks."""

    def __init__(self) -> None:
        self.now = 0.0

    def seconds(self) -> float:
        self.now += 1.0
        return self.now


def test_the_loop_steps_until_its_budget_each_pass_a_fresh_permutation() -> None:
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 16, 16).contiguous()
    batches = Batches(images, 4, seed=0)
    one_pass = torch.cat([batches.next()[:, 0, 0, 0] for _ in range(2)])  # 8 of the 10: the rest wait
    assert len(set(one_pass.tolist())) == 8
    assert len(set(batches.next()[:, 0, 0, 0].tolist())) == 4  # a new pass, drawn without repeats
    seen: list[tuple[float, dict[str, float]]] = []
    net = DCGAN(16, 3, width=8, seed=0)
    seconds = train_dcgan(net, batches, 3.0, Ticks(), lambda s, losses: seen.append((s, losses)))  # type: ignore[arg-type]
    assert seconds == 3.0 and [s for s, _ in seen] == [1.0, 2.0, 3.0]  # the first step past the budget ends it
    assert all(set(losses) == {"d_loss", "g_loss"} for _, losses in seen)
