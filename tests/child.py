"""The CLI in a child process under an address-space limit, reporting its exit code and peak memory: a
forged file that makes vaegan allocate what it declares fails the test instead of the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
CHILD = """
import json, resource, sys
limit = 2 << 30
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # address space: 2 GiB, far below what a forgery declares
from vaegan.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "peak_mib": int(hwm.split()[1]) // 1024}))
"""
PEAK_MIB = 400  # what a refusal may take: importing torch and vaegan is about 230 MiB


def run_child(*argv: str) -> tuple[dict[str, int], str]:
    """({"code": exit code, "peak_mib": peak resident memory}, stderr) of `vaegan ARGV`."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"the child died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def refused(argv: list[str], message: str) -> str:
    """`vaegan ARGV` exits 2 with one line holding `message`, under PEAK_MIB; returns that line."""
    result, err = run_child(*argv)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert result["code"] == 2 and "Traceback" not in err, err
    assert message in last, last
    assert result["peak_mib"] < PEAK_MIB, result
    return last


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path: equal before and after when a refusal changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
