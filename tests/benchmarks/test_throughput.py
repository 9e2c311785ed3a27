"""benchmarks/throughput.py's verdict on the rule: how far its pick ran from the best eager row, a flag past 10%."""

from __future__ import annotations

import pytest
import torch
from throughput import SHIPPED_VARIANTS, VARIANTS, describe_rule, rule_pick, rule_verdicts

from vaegan import cpu

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_the_rule_line_says_how_far_its_pick_ran_from_the_best_eager_row_and_a_flag_past_ten_percent() -> None:
    runs = {
        ("VAE", "shipped fp32 contiguous *"): [100.0, 90.0, 110.0],
        ("VAE", "shipped bf16 contiguous"): [108.0, 109.0, 100.0],  # 1.08x: within the margin
        ("VAE", "shipped fp32 contiguous, compiled"): [150.0],  # opt-in: no flag, its own ratio
        ("GAN", "plain fp32 loop (baseline)"): [40.0],
        ("GAN", "shipped fp32 contiguous"): [58.0],
        ("GAN", "shipped bf16 contiguous *"): [50.0],
        ("GAN", "shipped bf16 channels_last"): [56.0],
    }
    rule = describe_rule(CPU)
    assert rule_verdicts("64x64 emoji", "emoji shipped", runs, CPU) == [
        f"rule's pick, emoji shipped VAE: {rule}, within 8% of the best eager row (shipped bf16 contiguous); "
        "compiled 1.50x as fast",
        f"rule's pick, emoji shipped GAN: {rule}, within 16% of the best eager row (shipped fp32 contiguous)",
        "FLAG 64x64 emoji GAN: the rule picks shipped bf16 contiguous; shipped fp32 contiguous is 1.16x faster",
    ]
    best = {("VAE", "a *"): [9.0], ("VAE", "b"): [1.0]}
    assert rule_verdicts("x", "emoji", best, CPU) == [f"rule's pick, emoji VAE: {rule}, the best eager row"]
    assert rule_verdicts("x", "emoji", {("VAE", "a"): [1.0], ("VAE", "b"): [9.0]}, CPU) == []  # no pick, no verdict


@pytest.mark.parametrize(("flags", "bf16"), [("avx2 amx_bf16", True), ("avx2", False)])
def test_the_marked_row_is_the_rules_pick(monkeypatch: pytest.MonkeyPatch, flags: str, bf16: bool) -> None:
    monkeypatch.setattr(cpu, "cpu_info", lambda: f"flags\t\t: fpu {flags}\n")
    for variants in (VARIANTS, SHIPPED_VARIANTS):
        pick = rule_pick(variants, CPU)
        assert (pick.bf16, pick.channels_last, pick.fused, pick.compiled) == (bf16, True, True, False)
    gpu = rule_pick(SHIPPED_VARIANTS, GPU)  # a GPU: fp32 and contiguous whatever its host CPU lists
    assert (gpu.bf16, gpu.channels_last) == (False, False)
