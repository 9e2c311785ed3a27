"""docs/RESULTS.md from the race's JSON: our rows with their counts and budgets beside the published ones."""

from __future__ import annotations

import json
from pathlib import Path

from report import PUBLISHED, write_report


def point(seconds: float, fid: float, n_real: int) -> dict:
    return {
        "seconds": seconds,
        "stage": "gan",
        "fid": fid,
        "kid": 0.01,
        "n_real": n_real,
        "n_fake": 200,
        "reliable": n_real >= 1000,
    }


def test_report_has_our_rows_the_published_rows_and_flags_a_reduced_run(tmp_path: Path) -> None:
    record = {
        "data": "fashion-mnist",
        "command": "python benchmarks/quality.py --samples 200",
        "machine": "2 cores",
        "total_minutes": 3.0,
        "minutes": 1.0,
        "vae_share": 0.5,
        "seeds": 2,
        "first_seed": 0,
        "samples": 200,
        "real": {"name": "first 200 of the fashion-mnist official test set", "count": 200},
        "image_size": 28,
        "channels": 1,
        "batch": {"vae": 128, "gan": 128},
        "trained_seconds": {"two-stage": [60.1, 60.2], "dcgan": [60.0, 60.3]},
        "curves": {
            "two-stage": [
                [point(30, 200.0, 200), point(60, 100.0, 200)],
                [point(30, 210.0, 200), point(60, 120.0, 200)],
            ],
            "dcgan": [[point(30, 300.0, 200), point(60, 150.0, 200)], [point(30, 310.0, 200), point(60, 140.0, 200)]],
        },
    }
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "race.json").write_text(json.dumps(record))
    out = tmp_path / "RESULTS.md"
    write_report(tmp_path, out)
    text = out.read_text()
    assert (
        "| vaegan: VAE, then GAN warm-started from its decoder (z from the fitted prior, pixel anchor, R1) | "
        "110 ± 14 (unreliable" in text
    )
    assert "The two-stage pipeline's FID at the end, over the others': 0.76x DCGAN." in text  # 110 / 145
    assert "| 200 vs 200 | 1.002 ± 0.0012 min, 2 seed(s) |" in text  # minutes trained, over seeds
    assert "**Reduced run**" in text and "python benchmarks/quality.py --samples 200" in text
    for name, fid, source in PUBLISHED:
        assert f"| {name} (published) | {fid} |" in text and source in text
