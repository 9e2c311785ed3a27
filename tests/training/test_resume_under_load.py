"""Resume is bitwise exact with the defaults, not only with pinned threads: a run killed with SIGKILL while
another process keeps the CPUs busy, then resumed, ends with the weights of an uninterrupted run. Nothing a
run does depends on the machine's load (no probe, no thread-count follower), so this holds by construction;
the test keeps it so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import load_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src"
ENV = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}  # the defaults
ENV["PYTHONPATH"] = str(SRC)


def vaegan(*argv: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "vaegan", *argv]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_run_killed_under_load_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=40).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    args = ["train-vae", "--data", str(folder), *TINY_FLAGS, "--epochs", "12", "--precision", "auto"]
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # a neighbour on one of the cores
    try:
        straight = vaegan(*args, "--out", str(tmp_path / "straight"))
        assert straight.wait(timeout=300) == 0, straight.stderr.read().decode()[-2000:] if straight.stderr else ""
        killed = vaegan(*args, "--out", str(tmp_path / "killed"))
        checkpoint = tmp_path / "killed" / "checkpoint.pt"
        deadline = time.monotonic() + 120
        while killed.poll() is None and time.monotonic() < deadline:
            if checkpoint.exists() and load_checkpoint(checkpoint).loop.epoch >= 3:  # a few epochs in
                break
            time.sleep(0.05)
        assert killed.poll() is None, "the run ended before it could be killed; give it more epochs"
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        stopped_at = load_checkpoint(checkpoint).loop.epoch
        resumed = vaegan("train-vae", "--resume", str(tmp_path / "killed"))
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:] if resumed.stderr else ""
    finally:
        busy.kill()
    a, b = (load_checkpoint(tmp_path / run / "checkpoint.pt") for run in ("straight", "killed"))
    assert 1 < stopped_at < 13 and a.loop.step == b.loop.step
    for key, value in a.model.items():  # type: ignore[union-attr]
        assert torch.equal(value, b.model[key]), key  # type: ignore[union-attr]
