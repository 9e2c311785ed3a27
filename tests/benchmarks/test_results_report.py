"""docs/RESULTS.md from the race's JSON: our rows with their counts and budgets beside the published ones;
docs/PERFORMANCE.md from the throughput records; both as committed, regenerated from the committed records."""

from __future__ import annotations

import json
import math
from pathlib import Path

from report import CURRENT, PUBLISHED, minutes_to, rerun, write_performance, write_readme_table, write_report
from throughput import parse_printed

ROOT = Path(__file__).resolve().parents[2]


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
    """A Fashion-MNIST race record as quality.py wrote it; `fields` replace the defaults."""
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
    """RESULTS.md's "Wall-clock races" section, written from `records` of one dataset."""
    folder = tmp_path / data
    folder.mkdir()
    for record in records:
        (folder / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    return (tmp_path / "RESULTS.md").read_text().split("## Wall-clock races", 1)[1].split("\n## ", 1)[0]


def test_report_has_our_rows_the_published_rows_and_flags_a_reduced_run(tmp_path: Path) -> None:
    newest = CURRENT["fashion-mnist"][0]
    record = race_record(
        record=newest,
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
    (tmp_path / "fashion-mnist" / f"{newest}.json").write_text(json.dumps(record))
    out = tmp_path / "RESULTS.md"
    write_report(tmp_path, out)
    text = out.read_text()
    assert "| fashion-mnist | vaegan VAE then GAN | 110 ± 14 (unreliable: fewer than 1,000 real images) |" in text
    assert "- fashion-mnist: two stages' FID over: 0.76x DCGAN." in text  # 110 / 145
    assert f"| 200 vs 200 (reduced run) | 1 min, 2 seed(s) | `{newest}` |" in text  # the record's budget
    assert "The two-stage pipeline's FID at the end, over the others': 0.76x DCGAN." in text  # its section
    assert "**Reduced run**" in text and "`python benchmarks/quality.py --samples 200` on " in text
    assert text.count("| WGAN (published) |") == 1
    for name, fid, source in PUBLISHED:
        assert f"| {name} (published) | {fid} |" in text and source in text


def test_minutes_to_a_fid_interpolates_between_marks_and_is_nan_when_never_reached() -> None:
    curve = [point(60, 200.0, 1000), point(120, 100.0, 1000), point(180, 80.0, 1000)]
    assert minutes_to(150.0, curve) == 1.5  # halfway from 200 at 1 min to 100 at 2 min
    assert minutes_to(250.0, curve) == 1.0  # reached by the first mark: no curve before it to read
    assert minutes_to(80.0, curve) == 3.0
    assert math.isnan(minutes_to(50.0, curve))


def test_each_current_record_gets_its_own_section_in_the_order_of_current(tmp_path: Path) -> None:
    newest, oldest = CURRENT["fashion-mnist"][0], CURRENT["fashion-mnist"][-1]
    main = race_record(record=oldest, trained_seconds={"dcgan": [60.0]}, curves={"dcgan": [[point(60, 40.0, 10000)]]})
    auto = race_record(
        record=newest,
        title="auto against fp32",
        trained_seconds={"two-stage": [60.0], "two-stage-auto": [60.0]},
        curves={
            "two-stage": [[point(30, 60.0, 10000), point(60, 40.0, 10000)]],
            "two-stage-auto": [[point(30, 45.0, 10000), point(60, 30.0, 10000)]],
        },
    )
    stale = race_record(
        record="race-superseded", trained_seconds={"vae": [60.0]}, curves={"vae": [[point(60, 9.0, 10000)]]}
    )
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for record in (main, auto, stale):
        (folder / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.index(f"### `{newest}` (fashion-mnist, 28x28, 1 channel(s))\n") < text.index(f"### `{oldest}` (")
    assert "At auto precision, the two-stage pipeline's FID at the end, over the others': 0.75x vaegan VAE" in text
    assert text.count("| WGAN (published) |") == 1  # the published rows once
    assert f"results/fashion-mnist/{newest}-time-to-fid.png" in text
    assert f"results/fashion-mnist/{oldest}-time-to-fid.png" not in text  # one mark: no curve to chart
    assert "race-superseded" not in text  # a record not named in CURRENT is no row and no section


def test_a_record_at_the_protocols_count_sits_beside_the_published_rows_without_the_reduced_warning(
    tmp_path: Path,
) -> None:
    protocol = race_record(
        record=CURRENT["fashion-mnist"][0],
        title="10,000 samples",
        samples=10_000,
        trained_seconds={"two-stage-auto": [900.0]},
        curves={"two-stage-auto": [[point(900, 35.0, 10000)]]},
    )
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / f"{protocol['record']}.json").write_text(json.dumps(protocol))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| WGAN (published) | 21.5 ± 1.6 |" in text
    assert "| 10000 vs 10000 (papers' protocol) |" in text
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
    assert f"- fashion-mnist: two stages' FID (`{newest}`) over: 0.59x VAE alone (`{oldest}`)." in summary


def test_the_summary_ratio_names_no_records_when_both_rows_come_from_one(tmp_path: Path) -> None:
    newest = CURRENT["fashion-mnist"][0]
    record = race_record(
        record=newest,
        samples=10_000,
        trained_seconds={"two-stage-auto": [900.0], "vae": [900.0]},
        curves={"two-stage-auto": [[point(900, 18.0, 10000)]], "vae": [[point(900, 30.0, 10000)]]},
    )
    summary = summary_of(tmp_path, "fashion-mnist", record)
    assert "- fashion-mnist: two stages' FID over: 0.60x VAE alone.\n" in summary  # 18 / 30


def test_a_record_shows_each_runs_steps_and_closing_loss_per_stage(tmp_path: Path) -> None:
    """So a VAE stage that never trained is visible beside its FID (levers 16's seed 1)."""
    stages = [
        {"stage": "vae", "steps": 2345, "closing_loss": 8529.2},
        {"stage": "gan", "steps": 900, "closing_loss": 1.5},
    ]
    record = race_record(
        record=CURRENT["fashion-mnist"][0],
        first_seed=1,
        trained_seconds={"two-stage": [60.0]},
        curves={"two-stage": [[point(60, 415.8, 10000)]]},
        stages={"two-stage": [stages]},
    )
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "- vaegan VAE then GAN, seed 1: vae 2,345 steps, closing loss 8,529; gan 900 steps, closing loss 1.5" in text


def test_a_record_with_defect_scores_shows_them_and_one_without_shows_none(tmp_path: Path) -> None:
    scored = [point(60, 40.0, 10000) | {"defect": 1.5}, point(60, 50.0, 10000) | {"defect": 2.5}]
    record = race_record(
        record=CURRENT["fashion-mnist"][0],
        trained_seconds={"two-stage": [60.0], "dcgan": [60.0]},
        curves={"two-stage": [[scored[0]], [scored[1]]], "dcgan": [[point(60, 45.0, 10000)]]},  # dcgan: older
    )
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    line = "Defect score at the end (holes, specks and blocks over real, about 1 without them): vaegan VAE then GAN"
    assert f"\n{line} 2 ± 0.71.\n" in text  # DCGAN's runs have none: not named
    del record["curves"]["two-stage"][0][0]["defect"]  # one run without it: a record from before the score
    (tmp_path / "fashion-mnist" / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    assert "Defect score" not in (tmp_path / "RESULTS.md").read_text()


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
        "- emoji: two stages' FID over: 0.88x VAE alone. "
        "Not compared, scored at other sample counts: GAN from scratch." in summary
    )


def test_a_merged_record_names_the_command_of_each_run_it_joins(tmp_path: Path) -> None:
    newest = CURRENT["fashion-mnist"][0]
    source = race_record(record="race-seed0", command="python benchmarks/quality.py --seeds 1 --record race-seed0")
    merged = race_record(
        record=newest,
        command="python benchmarks/merge_races.py --records race-seed0",
        merged_from=["race-seed0"],
        notes="merged by benchmarks/merge_races.py",
        trained_seconds={"two-stage-auto": [60.0]},
        curves={"two-stage-auto": [[point(60, 15.0, 10000)]]},
    )
    (tmp_path / "fashion-mnist").mkdir()
    for record in (source, merged):
        (tmp_path / "fashion-mnist" / f"{record['record']}.json").write_text(json.dumps(record))
    write_report(tmp_path, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "`python benchmarks/merge_races.py --records race-seed0` on " in text
    assert "- `race-seed0`: `python benchmarks/quality.py --seeds 1 --record race-seed0`" in text


PRINTED = """machine: AMD EPYC (family 26, model 2), 2 cores, torch 2.13.0+cpu, 2 threads
load average at start: 0.88 1.46 1.91
auto probe, emoji VAE on cpu: bf16 autocast: 1.50x faster here than fp32, channels_last 1.06x (probe took 1.1s)

data                 step loop                                       img/s  x ref  GFLOP/s  % fp32  % bf16
64x64 RGB emoji      VAE  reference (tutorial loop)                    499   1.00      246  114.6%   27.0%
64x64 RGB emoji      VAE  vaegan + fused Adam + bf16 + ch_last *      1011   2.02      498  231.7%     n/a
* = what --precision auto and --memory-format auto pick on this machine (their probe, above)

load average at end: 1.79 1.62 1.91
generation (64x64 decoder): sample 1625 img/s at batch 256; one z decoded in 2.3 ms
"""


def test_a_throughput_run_becomes_a_record_and_its_table(tmp_path: Path) -> None:
    parts = parse_printed(PRINTED)
    assert parts["machine"] == ["machine: AMD EPYC (family 26, model 2), 2 cores, torch 2.13.0+cpu, 2 threads"]
    assert parts["rows"][1] == {
        "table": "tutorial",
        "data": "64x64 RGB emoji",
        "step": "VAE",
        "loop": "vaegan + fused Adam + bf16 + ch_last",
        "auto": True,
        "img_s": 1011,
        "x_ref": 2.02,
        "gflops": 498,
        "of_fp32": 2.317,
        "of_bf16": None,
    }
    assert parts["after"][-1].startswith("generation (64x64 decoder)")
    record = {"name": "f26", "kind": "AMD EPYC: avx512_bf16", "date": "2026-11-25", "command": "python x", **parts}
    (tmp_path / "f26.json").write_text(json.dumps(record))
    write_performance(tmp_path, tmp_path / "PERFORMANCE.md")
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "| AMD EPYC: avx512_bf16 | **bf16** (1.50x), channels_last 1.06x |" in text  # what auto picked
    assert "| 64x64 RGB emoji | VAE | reference (tutorial loop) | 499 | 1.00 | 115% | 27% |" in text
    assert "|  | VAE | vaegan + fused Adam + bf16 + ch_last * | 1011 | 2.02 | 232% | n/a |" in text
    assert "`python x` on 2026-11-25, AMD EPYC (family 26, model 2), 2 cores" in text
    assert "load average" not in text


SHIPPED_PRINTED = """machine: AMD EPYC (family 26, model 2), 2 cores, torch 2.13.0+cpu, 2 threads
auto probe, emoji VAE on cpu: bf16 autocast: 1.50x faster here than fp32, channels_last 1.06x (probe took 1.1s)
auto probe, emoji shipped GAN on cpu: fp32: bf16 autocast is 1.05x here, contiguous layout (probe took 9.0s)

data                 step loop                                       img/s  x ref  GFLOP/s  % fp32  % bf16
64x64 RGB emoji      VAE  reference (tutorial loop)                    499   1.00      246  114.6%   27.0%
64x64 RGB emoji      VAE  vaegan + fused Adam + bf16 + ch_last *      1011   2.02      498  231.7%     n/a
* = what --precision auto and --memory-format auto pick on this machine (their probe, above)

data                 step loop                                       img/s x base  GFLOP/s  % fp32  % bf16
64x64 RGB emoji      GAN  plain fp32 loop (baseline)                    40   1.00       45   76.3%   32.8%
64x64 RGB emoji      GAN  shipped fp32 contiguous *                     52   1.30       59   99.2%   42.6%
64x64 RGB emoji      GAN  shipped bf16 channels_last                    61   1.53       69  116.4%   50.0%
* = what the stage's own auto probe picked in this run (speed.choose on a fresh cache, above)
x base = over the baseline: `vaegan run`'s networks and losses in a plain fp32 loop
FLAG 64x64 RGB emoji GAN: auto is shipped fp32 contiguous; shipped bf16 channels_last is 1.17x faster

load average at end: 1.79 1.62 1.91
"""


def test_shipped_rows_parse_apart_from_the_tutorials_and_render_in_their_own_table(tmp_path: Path) -> None:
    parts = parse_printed(SHIPPED_PRINTED)
    assert [(r["table"], r["loop"], r["auto"]) for r in parts["rows"]] == [
        ("tutorial", "reference (tutorial loop)", False),
        ("tutorial", "vaegan + fused Adam + bf16 + ch_last", True),
        ("shipped", "plain fp32 loop (baseline)", False),
        ("shipped", "shipped fp32 contiguous", True),
        ("shipped", "shipped bf16 channels_last", False),
    ]
    assert parts["rows"][-1]["x_ref"] == 1.53
    record = {"name": "f26", "kind": "AMD EPYC: avx512_bf16", "date": "2026-11-26", "command": "python x", **parts}
    (tmp_path / "f26.json").write_text(json.dumps(record))
    write_performance(tmp_path, tmp_path / "PERFORMANCE.md")
    text = (tmp_path / "PERFORMANCE.md").read_text()
    tutorial = text.index("| data | step | loop (`*`: auto's pick) | img/s | x reference |")
    shipped = text.index("| data | step | loop (`*`: auto's pick) | img/s | x baseline |")
    assert tutorial < text.index("| reference (tutorial loop) |") < shipped
    assert shipped < text.index("| 64x64 RGB emoji | GAN | plain fp32 loop (baseline) | 40 | 1.00 | 76% | 33% |")
    assert "|  | GAN | shipped fp32 contiguous * | 52 | 1.30 | 99% | 43% |" in text
    assert "**Flag: 64x64 RGB emoji GAN: auto is shipped fp32 contiguous; shipped bf16 channels_last" in text
    assert "| emoji shipped GAN |" in text  # the shipped probe's verdict in the auto table
    assert "x base = " not in text


RULE_PRINTED = """machine: AMD EPYC (family 25, model 17), 2 cores, torch 2.13.0+cpu, 2 threads

data                 step loop                                       img/s x base  GFLOP/s  % fp32  % bf16
64x64 RGB emoji      VAE  plain fp32 loop (baseline)                   287   1.00      149   84.0%   38.0%
64x64 RGB emoji      VAE  shipped bf16 channels_last *                 382   1.33      199  112.0%   51.0%
64x64 RGB emoji      VAE  shipped bf16 contiguous                      385   1.34      200  113.0%   51.0%
64x64 RGB emoji      VAE  shipped bf16 channels_last, compiled         464   1.62      241  136.0%   61.0%
* = what --precision auto and --memory-format auto train here: bf16 autocast, channels_last
rule's pick, emoji shipped VAE: bf16 autocast, channels_last, within 1% of the best eager row \
(shipped bf16 contiguous); compiled 1.21x as fast
FLAG 64x64 RGB emoji VAE: the rule picks shipped bf16 channels_last; shipped fp32 contiguous is 1.20x faster

load average at end: 1.79 1.62 1.91
peak RSS, 64x64 emoji VAE epoch, --precision auto --memory-format auto: 663 MiB
"""


def test_the_rules_pick_and_its_distance_from_the_best_row_fill_the_auto_table(tmp_path: Path) -> None:
    parts = parse_printed(RULE_PRINTED)
    assert [(r["loop"], r["auto"]) for r in parts["rows"]][1:3] == [
        ("shipped bf16 channels_last", True),
        ("shipped bf16 contiguous", False),
    ]
    record = {"name": "f25", "kind": "AMD EPYC: avx512_bf16", "date": "2026-11-28", "command": "python x", **parts}
    (tmp_path / "f25.json").write_text(json.dumps(record))
    write_performance(tmp_path, tmp_path / "PERFORMANCE.md")
    text = (tmp_path / "PERFORMANCE.md").read_text()
    assert "| machine kind | emoji shipped VAE |" in text
    cell = "**bf16**, channels_last, within 1% of the best; compiled 1.21x as fast"
    assert f"| AMD EPYC: avx512_bf16 | {cell} |" in text
    assert "rule's pick, " not in text  # the line lives in the auto table, not again under the record
    assert "**Flag: 64x64 RGB emoji VAE: the rule picks shipped bf16 channels_last; shipped fp32" in text
    assert "|  | VAE | shipped bf16 channels_last * | 382 | 1.33 | 112% | 51% |" in text
    assert "    peak RSS, 64x64 emoji VAE epoch" in text


def test_the_committed_docs_are_what_their_records_generate(tmp_path: Path) -> None:
    """RESULTS.md and PERFORMANCE.md are written by report.py alone: a hand edit, or a record changed without
    rerunning `python benchmarks/report.py`, fails here."""
    write_report(ROOT / "docs" / "results", tmp_path / "RESULTS.md")
    write_performance(ROOT / "docs" / "results" / "performance", tmp_path / "PERFORMANCE.md")
    for name in ("RESULTS.md", "PERFORMANCE.md"):
        assert (tmp_path / name).read_text() == (ROOT / "docs" / name).read_text(), (
            f"rerun benchmarks/report.py: {name}"
        )
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    write_readme_table(ROOT / "docs" / "results", readme)
    assert readme.read_text() == (ROOT / "README.md").read_text(), "rerun benchmarks/report.py: README's table"
    assert "| emoji | DCGAN peer |" in readme.read_text()  # the table is there, not an empty block


def test_a_rerun_command_drops_only_the_labels_that_change_no_number() -> None:
    command = "python benchmarks/quality.py --seeds 3 --title 'it'\"'\"'s a name' --record x --note \"why\" --minutes 6"
    assert rerun(command) == "python benchmarks/quality.py --seeds 3 --record x --minutes 6"
