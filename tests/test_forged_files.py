"""Forged files are refused in one line before anything they declare is allocated or stepped: a tensor that
claims more than its storage, an optimiser moment of the wrong shape, loop counts or RNG states no run writes.
Each case runs the CLI in a child process under an address-space limit, so a crash or a huge allocation fails
the test instead of the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from tiny import tiny_config, tiny_splits
from vaegan.checkpoint import seal
from vaegan.training.train_vae import train_vae

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


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny VAE run on a real folder of pictures, so the CLI in the child can resume it."""
    root = tmp_path_factory.mktemp("forged")
    for i, image in enumerate(tiny_splits().train.images):
        save_image(image, root / "pictures" / f"{i}.png")
    cfg = tiny_config(epochs=1)
    cfg = replace(cfg, data=replace(cfg.data, source=str(root / "pictures")))
    train_vae(cfg, root / "vae")
    return root / "vae"


def save_image(image: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(exist_ok=True)
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)


def forge(trained: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the run whose checkpoint has `change` applied and its checksum recomputed, as a forger would."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (run / name).write_bytes((trained / name).read_bytes())
    payload = torch.load(trained / "checkpoint.pt", weights_only=True)
    change(payload)
    if not any(t.stride() == (0, 0) for t in payload["model"].values()):  # sealing one would allocate it here
        seal(payload)
    torch.save(payload, run / "checkpoint.pt")
    return run


def run_child(*argv: str) -> tuple[dict[str, int], str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"the child died ({done.returncode}): {done.stderr[-2000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def huge_stride_zero(payload: dict[str, Any]) -> None:
    first = next(iter(payload["model"]))
    payload["model"][first] = torch.zeros(1).expand(60000, 60000)  # 14.4 GB declared over 4 bytes


def adam_moment_of_wrong_shape(payload: dict[str, Any]) -> None:
    state = payload["optimizer"]["state"]
    state[0]["exp_avg"] = torch.zeros(3)


def loop(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload["loop"].update(values)


CASES = [
    ("stride-0-tensor", huge_stride_zero, "declares 14,400,000,000 bytes"),
    ("adam-moment-shape", adam_moment_of_wrong_shape, "optimiser state does not fit the model (exp_avg is (3,)"),
    ("negative-epoch", loop(epoch=-5, step=-100), "malformed loop state (epoch -5)"),
    ("batch-past-epoch", loop(batch_in_epoch=10**9), "stands at batch 1000000000 of an epoch of"),
    ("rng-garbage", loop(rng={"torch": torch.zeros(3, dtype=torch.uint8)}), "random-number state is damaged"),
    ("sums-shape", loop(sums=torch.zeros(9)), "metric sums of shape (9,) where this stage keeps (4,)"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_forged_checkpoint_is_one_line_in_bounded_memory(
    trained: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    run = forge(trained, tmp_path, change)
    before = (run / "checkpoint.pt").read_bytes()
    result, err = run_child("train-vae", "--resume", str(run), "--epochs", "2")
    assert result["code"] == 2 and "Traceback" not in err
    assert message in err.strip().splitlines()[-1]
    assert result["peak_mib"] < 400
    assert (run / "checkpoint.pt").read_bytes() == before  # nothing already saved is lost


def test_an_untouched_copy_resumes(trained: Path, tmp_path: Path) -> None:
    """The forge itself is harmless: with no change, the same command trains on."""
    run = forge(trained, tmp_path, lambda payload: None)
    result, _ = run_child("train-vae", "--resume", str(run), "--epochs", "2")
    assert result["code"] == 0
