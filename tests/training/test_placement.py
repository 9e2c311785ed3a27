"""Precision and layout follow a rule on the device's features: nothing is timed, and the rule is the one
docs/PERFORMANCE.md measured."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from vaegan.config import RunSettings
from vaegan.cpu import cpu_flags, cpu_model
from vaegan.training.placement import cpu_time_note, memory_layout, setup_run, use_bf16

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def cpuinfo(flags: str, name: str = "AMD EPYC", family: int = 25, model: int = 17) -> str:
    block = f"processor\t: 0\nmodel name\t: {name}\ncpu family\t: {family}\nmodel\t\t: {model}\nflags\t\t: {flags}\n"
    return block + "\n" + block.replace("processor\t: 0", "processor\t: 1")


AVX2 = cpuinfo("fpu sse2 avx2 fma")
AVX512_BF16 = cpuinfo("fpu avx2 avx512f avx512_bf16")
AMX = cpuinfo("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", name="Intel Xeon", family=6, model=143)


@pytest.mark.parametrize(("info", "bf16"), [(AVX2, False), (AVX512_BF16, True), (AMX, True), ("", False)])
def test_auto_precision_is_bf16_exactly_on_cpus_with_bf16_instructions(info: str, bf16: bool) -> None:
    assert use_bf16("auto", CPU, info) is bf16


def test_a_cpu_without_bf16_instructions_is_told_how_long_to_expect() -> None:
    note = cpu_time_note(CPU, AVX2)
    assert note is not None and "no bf16 instructions" in note and "3-5x slower" in note and "13-20 minutes" in note
    assert cpu_time_note(CPU, AVX512_BF16) is None and cpu_time_note(CPU, AMX) is None
    assert cpu_time_note(GPU, AVX2) is None  # the GPU's steps are what count


def test_a_gpu_trains_in_fp32_under_auto_and_explicit_choices_win() -> None:
    assert use_bf16("auto", GPU, AMX) is False  # launch-bound at these sizes: bf16 ran 0.81-0.93x on H100/H200
    assert use_bf16("bf16", CPU, AVX2) is True
    assert use_bf16("fp32", CPU, AMX) is False


def test_auto_layout_is_channels_last_on_a_cpu_and_contiguous_on_a_gpu() -> None:
    assert memory_layout("auto", CPU) == torch.channels_last
    assert memory_layout("auto", GPU) == torch.contiguous_format
    assert memory_layout("contiguous", CPU) == torch.contiguous_format
    assert memory_layout("channels_last", GPU) == torch.channels_last


def test_cpu_flags_and_model_come_from_the_first_processor() -> None:
    assert "amx_bf16" in cpu_flags(AMX) and "avx512_bf16" not in cpu_flags(AVX2)
    assert cpu_model(AVX512_BF16) == "AMD EPYC (family 25, model 17)"


def test_setup_run_says_what_it_picked_and_writes_the_config(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = RunSettings(device="cpu", precision="fp32", memory_format="auto")
    with caplog.at_level(logging.INFO, logger="vaegan.training.placement"):
        placement = setup_run(tmp_path, settings, settings, is_new=True, stage="vae")
    assert (placement.bf16, placement.layout) == (False, torch.channels_last)
    assert "vae steps on cpu: fp32, channels_last (--precision fp32, --memory-format auto)" in caplog.text
    assert (tmp_path / "config.json").is_file()


@pytest.mark.parametrize(("info", "policy"), [(AVX2, "PASSIVE"), (AVX512_BF16, None), (AMX, None)])
def test_the_cli_sets_openmp_to_sleep_while_waiting_only_for_fp32_cpus(
    tmp_path: Path, info: str, policy: str | None
) -> None:
    """Decided before torch loads, from the CPU's flags (vaegan/cli/__init__.py says why, with the records)."""
    import os
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[2] / "src"
    code = (
        "import vaegan.cpu as c, sys; c.cpu_info = lambda: sys.argv[1]\n"
        "import os, vaegan.cli; print(os.environ.get('OMP_WAIT_POLICY'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", code, info], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(policy)
