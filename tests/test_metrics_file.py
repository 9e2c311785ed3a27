"""A damaged metrics.jsonl is read as far as it is sound: bad lines skipped and named once, never a traceback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tiny import tiny_config, tiny_splits
from vaegan.cli import main
from vaegan.runs import read_metrics
from vaegan.training.train_vae import train_vae

GOOD = {"stage": "vae", "epoch": 1, "step": 4, "train/total": 10.0}


def test_bad_lines_are_skipped_and_named_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = [
        json.dumps(GOOD).encode(),
        b"\xff\xfe not utf-8",
        b"[1, 2, 3]",
        json.dumps({**GOOD, "epoch": 2, "train/total": "ten"}).encode(),
        json.dumps({**GOOD, "epoch": 3, "train/kl": float("nan")}).encode(),
        b"{cut short",
    ]
    (tmp_path / "metrics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with caplog.at_level(logging.WARNING):
        records = read_metrics(tmp_path)
    assert records == [GOOD, {**GOOD, "epoch": 3}]  # the NaN left out of its line, the line kept
    assert caplog.text.count("skipped 4 damaged line(s), first line 2") == 1


def test_curves_and_resume_read_a_damaged_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "vae"
    train_vae(tiny_config(epochs=1), run, splits=tiny_splits())
    with (run / "metrics.jsonl").open("ab") as f:
        f.write(b"\xff\xfe\n[1]\n" + json.dumps({"stage": "vae", "epoch": "x"}).encode() + b"\n")
    capsys.readouterr()  # what training printed (through another test's log handler, maybe) is not the command's
    assert main(["curves", str(run), "-o", str(tmp_path / "out")]) == 0
    assert "Traceback" not in capsys.readouterr().err
