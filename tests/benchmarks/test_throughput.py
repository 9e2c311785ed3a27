"""benchmarks/throughput.py's verdict on auto: a flag where another row beats its pick by over 10%."""

from __future__ import annotations

from throughput import auto_flags


def test_a_row_over_ten_percent_faster_than_autos_pick_is_flagged_and_one_within_it_is_not() -> None:
    runs = {
        ("VAE", "shipped fp32 contiguous *"): [100.0, 90.0, 110.0],
        ("VAE", "shipped bf16 contiguous"): [108.0, 109.0, 100.0],  # 1.08x: within the margin
        ("GAN", "plain fp32 loop (baseline)"): [40.0],
        ("GAN", "shipped fp32 contiguous"): [58.0],
        ("GAN", "shipped bf16 contiguous *"): [50.0],
        ("GAN", "shipped bf16 channels_last"): [56.0],
    }
    assert auto_flags("emoji", runs) == [
        "FLAG emoji GAN: auto is shipped bf16 contiguous; shipped fp32 contiguous is 1.16x faster"
    ]
    assert auto_flags("emoji", {("VAE", "a"): [1.0], ("VAE", "b"): [9.0]}) == []  # no auto row, no verdict
