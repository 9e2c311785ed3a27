"""What this CPU is, read from /proc/cpuinfo without torch: the CLI decides OpenMP's wait policy from it
before torch loads OpenMP, and training.placement its precision rule."""

from __future__ import annotations

import platform
from pathlib import Path

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # the CPU flags under which oneDNN has bf16 kernels


def cpu_info() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags to read, so the rules take the plain path
        return ""


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The first processor's flags from /proc/cpuinfo's text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def has_bf16(cpuinfo: str | None = None) -> bool:
    return bool(cpu_flags(cpu_info() if cpuinfo is None else cpuinfo) & BF16_FLAGS)


def cpu_model(cpuinfo: str | None = None) -> str:
    """This CPU's name with its family and model numbers: the name alone does not tell two kinds apart."""
    fields: dict[str, str] = {}
    for line in (cpu_info() if cpuinfo is None else cpuinfo).splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    numbers = f" (family {fields['cpu family']}, model {fields['model']})" if "cpu family" in fields else ""
    return fields["model name"] + numbers
