"""docs/RESULTS.md from the race's JSON: our rows with their counts and budgets beside the published ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

from report import CURRENT, PUBLISHED, minutes_to, write_report


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


def race_record(**fields: object) -> dict:
    """A Fashion-MNIST race record as quality.py writes it; `fields` replace the defaults."""
    return {
        "data": "fashion-mnist",
        "command": "python benchmarks/quality.py",
        "machine": "2 cores",
        "total_minutes": 3.0,
        "minutes": 1.0,
        "vae_share": 0.25,
        "seeds": 1,
        "first_seed": 0,
        "samples": 1000,
        "real": {"name": "fashion-mnist official test set", "count": 10000},
        "image_size": 28,
        "channels": 1,
        "batch": {"vae": 128, "gan": 128},
        **fields,
    }


def summary_of(tmp_path: Path, data: str, *records: dict) -> str:
    """The "Where we stand" section RESULTS.md opens with, written from `records` of one dataset."""
    folder = tmp_path / data
    folder.mkdir()
    for record in records:
        (folder / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    return (tmp_path / "RESULTS.md").read_text().split("## Where we stand", 1)[1].split("\n## ", 1)[0]


def test_report_has_our_rows_the_published_rows_and_flags_a_reduced_run(tmp_path: Path) -> None:
    record = race_record(
        command="python benchmarks/quality.py --samples 200",
        vae_share=0.5,
        seeds=2,
        samples=200,
        real={"name": "first 200 of the fashion-mnist official test set", "count": 200},
        trained_seconds={"two-stage": [60.1, 60.2], "dcgan": [60.0, 60.3]},
        curves={
            "two-stage": [
                [point(30, 200.0, 200), point(60, 100.0, 200)],
                [point(30, 210.0, 200), point(60, 120.0, 200)],
            ],
            "dcgan": [[point(30, 300.0, 200), point(60, 150.0, 200)], [point(30, 310.0, 200), point(60, 140.0, 200)]],
        },
    )
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


def test_minutes_to_a_fid_interpolates_between_marks_and_is_nan_when_never_reached() -> None:
    curve = [point(60, 200.0, 1000), point(120, 100.0, 1000), point(180, 80.0, 1000)]
    assert minutes_to(150.0, curve) == 1.5  # halfway from 200 at 1 min to 100 at 2 min
    assert minutes_to(250.0, curve) == 1.0  # reached by the first mark: no curve before it to read
    assert minutes_to(80.0, curve) == 3.0
    assert math.isnan(minutes_to(50.0, curve))


def test_a_second_record_gets_its_own_section_after_the_main_race(tmp_path: Path) -> None:
    main = race_record(trained_seconds={"dcgan": [60.0]}, curves={"dcgan": [[point(60, 40.0, 10000)]]})
    auto = race_record(
        record="race-precision",
        title="auto against fp32",
        trained_seconds={"two-stage": [60.0], "two-stage-auto": [60.0]},
        curves={
            "two-stage": [[point(30, 60.0, 10000), point(60, 40.0, 10000)]],
            "two-stage-auto": [[point(30, 45.0, 10000), point(60, 30.0, 10000)]],
        },
    )
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "race.json").write_text(json.dumps(main))
    (folder / "race-precision.json").write_text(json.dumps(auto))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.index("## fashion-mnist (28x28, 1 channel(s))\n") < text.index(": auto against fp32\n")
    assert "At auto precision, the two-stage pipeline's FID at the end, over the others': 0.75x vaegan VAE" in text
    assert text.count("| WGAN (published) |") == 1  # the published rows once, with the main race
    assert "results/fashion-mnist/race-precision-time-to-fid.png" in text


def test_a_record_at_the_protocols_count_sits_beside_the_published_rows_without_the_reduced_warning(
    tmp_path: Path,
) -> None:
    protocol = race_record(
        record="race-protocol",
        title="10,000 samples",
        samples=10_000,
        trained_seconds={"two-stage-auto": [900.0]},
        curves={"two-stage-auto": [[point(900, 35.0, 10000)]]},
    )
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "race-protocol.json").write_text(json.dumps(protocol))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| WGAN (published) | 21.5 ± 1.6 |" in text
    assert "**Reduced run**" not in text
    assert "time-to-fid.png" not in text  # one mark per run: an end point, no curve to chart


def test_the_summary_takes_each_variant_from_the_newest_current_record(tmp_path: Path) -> None:
    newest, oldest = CURRENT["fashion-mnist"][0], CURRENT["fashion-mnist"][-1]  # today's records, by name
    older = race_record(
        record=oldest,
        samples=10_000,
        trained_seconds={"two-stage": [900.0], "vae": [900.0]},  # fp32 here: the same pipeline as auto's
        curves={"two-stage": [[point(900, 21.0, 10000)]], "vae": [[point(900, 33.0, 10000)]]},
    )
    newer = race_record(
        record=newest,
        samples=10_000,
        seeds=2,
        trained_seconds={"two-stage-auto": [900.0, 900.0]},
        curves={"two-stage-auto": [[point(900, 19.0, 10000)], [point(900, 20.0, 10000)]]},
    )
    summary = summary_of(tmp_path, "fashion-mnist", older, newer)
    assert "| fashion-mnist | vaegan VAE then GAN, auto precision | 19.5 ± 0.71 |" in summary  # the 2 seeds
    assert "| 15 min" not in summary and f"| 1 min, 2 seed(s) | `{newest}` |" in summary
    assert "| fashion-mnist | VAE alone | 33 |" in summary and "(papers' protocol)" in summary
    assert summary.count("| fashion-mnist |") == 2  # the older record's two-stage row is hidden
    # 19.5 / 33 from two records, and the ratio says so
    ratio = f"0.59x VAE alone (`{newest}` over `{oldest}`)."
    assert f"- fashion-mnist: the two stages' FID over the others': {ratio}" in summary


def test_the_summary_ratio_names_no_records_when_both_rows_come_from_one(tmp_path: Path) -> None:
    newest = CURRENT["fashion-mnist"][0]
    record = race_record(
        record=newest,
        samples=10_000,
        trained_seconds={"two-stage-auto": [900.0], "vae": [900.0]},
        curves={"two-stage-auto": [[point(900, 18.0, 10000)]], "vae": [[point(900, 30.0, 10000)]]},
    )
    summary = summary_of(tmp_path, "fashion-mnist", record)
    assert "- fashion-mnist: the two stages' FID over the others': 0.60x VAE alone.\n" in summary  # 18 / 30


def test_a_record_shows_each_runs_steps_and_closing_loss_per_stage(tmp_path: Path) -> None:
    """So a VAE stage that never trained is visible beside its FID (levers round 16's seed 1)."""
    stages = [
        {"stage": "vae", "steps": 2345, "closing_loss": 8529.2},
        {"stage": "gan", "steps": 900, "closing_loss": 1.5},
    ]
    record = race_record(
        record="race-stuck",
        first_seed=1,
        trained_seconds={"two-stage": [60.0]},
        curves={"two-stage": [[point(60, 415.8, 10000)]]},
        stages={"two-stage": [stages]},
    )
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "race-stuck.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "- vaegan VAE then GAN, seed 1: vae 2,345 steps, closing loss 8,529; gan 900 steps, closing loss 1.5" in text


def test_the_summary_compares_no_fids_scored_at_other_sample_counts(tmp_path: Path) -> None:
    """FID is biased upwards at small counts: a ratio of a 5,000-sample FID over a 1,000-sample one would
    measure the counts as much as the models."""
    newest, oldest = CURRENT["emoji"][0], CURRENT["emoji"][-1]
    protocol = race_record(
        data="emoji",
        record=newest,
        samples=5000,
        real={"name": "all emoji", "count": 3788},
        trained_seconds={"two-stage-auto": [360.0], "vae-auto": [360.0]},
        curves={"two-stage-auto": [[point(360, 115.0, 3788)]], "vae-auto": [[point(360, 130.0, 3788)]]},
    )
    reduced = race_record(
        data="emoji",
        record=oldest,
        samples=1000,
        real={"name": "all emoji", "count": 3788},
        trained_seconds={"scratch-gan-auto": [360.0]},
        curves={"scratch-gan-auto": [[point(360, 410.0, 3788)]]},
    )
    summary = summary_of(tmp_path, "emoji", protocol, reduced)
    assert "| emoji | GAN from scratch, auto precision | 410 |" in summary  # its row is still shown
    assert (
        "- emoji: the two stages' FID over the others': 0.88x VAE alone. "
        "Not compared, scored at other sample counts: GAN from scratch." in summary
    )
