"""A trained two-stage point's GAN stage trained again at today's defaults, on its own VAE stage.

When a GAN default or the prior's recipe changes, the points' VAE stages still hold: `curve.py regan POINT`
moves the point's folder to runs/curve-replaced/, starts a fresh one holding a copy of its VAE stage (the
fitted prior left behind, so today's recipe fits it again), and `curve.py train` then trains the rest. The
new train.json names what was reused: the old folder, the VAE's own seconds (its wall-clock in the record)
and the commit of the record it replaces, which leaves the tree until the point is scored again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from curve_points.jobs import finished, train_record
from curve_points.score import epochs_of
from vaegan.pipeline import stage_seconds

LEFT_BEHIND = ("flow_prior.pt", "prior.pt")  # refitted by today's recipe when the GAN stage starts


def record_commit(record: Path) -> str | None:
    """The commit that last wrote `record`, or None where it was never committed."""
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(record)], capture_output=True, text=True)
    return out.stdout.strip() or None


def vae_seconds(folder: Path) -> float:
    """The VAE stage's own seconds: every epoch its final model trained, checks included (to the ms, so a
    tiny stage on a fast machine still counts)."""
    return round(stage_seconds(epochs_of(folder, "vae")), 3)


def replaced_folder(folder: Path) -> Path:
    """runs/curve-replaced/NAME, or NAME.2, NAME.3 ... when earlier replacements are there."""
    parent = folder.parent.parent / f"{folder.parent.name}-replaced"
    dest, k = parent / folder.name, 1
    while dest.exists():
        k += 1
        dest = parent / f"{folder.name}.{k}"
    return dest


def regan(folder: Path, record: Path) -> dict[str, Any]:
    """Move the finished two-stage run `folder` aside and start it again from its VAE stage; its record
    `record` is removed (git keeps it). Returns what train.json says was reused."""
    if not finished(folder) or not (folder / "gan").is_dir():
        raise SystemExit(f"{folder} is not a finished two-stage run; train it first with curve.py train")
    old = train_record(folder)
    dest = replaced_folder(folder)
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(dest)
    reused = {
        "stage": "vae",
        "from": str(dest),
        "vae_seconds": vae_seconds(dest),
        "attempts": old["reused"]["attempts"] if "reused" in old else old["attempts"],  # those that trained the VAE
        "replaces_record_of": record_commit(record) if record.is_file() else None,
    }
    folder.mkdir()
    shutil.copytree(dest / "vae", folder / "vae", ignore=shutil.ignore_patterns(*LEFT_BEHIND))
    tmp = folder / "train.json.tmp"
    tmp.write_text(json.dumps({**old, "reused": reused, "attempts": []}, indent=1) + "\n")
    tmp.replace(folder / "train.json")
    record.unlink(missing_ok=True)
    return reused
