"""merge_races.py: seeds of one recipe raced in different runs join one record; other recipes are refused."""

from __future__ import annotations

import pytest
from merge_races import merged
from test_results_report import point, race_record


def seeds_record(name: str, first_seed: int, fids: list[float], **fields: object) -> dict:
    """A record of the two stages at `len(fids)` seeds from `first_seed`, each ending at one of `fids`."""
    defaults = {
        "machine": "2 cores (AMD EPYC), torch 2.13.0+cpu, load average 0.4 at the start",
        "gan": {"lr_g": 0.0002},
    }
    return race_record(
        record=name,
        command=f"python benchmarks/quality.py --record {name}",
        prior_components=100,
        seeds=len(fids),
        first_seed=first_seed,
        trained_seconds={"two-stage-auto": [60.0] * len(fids), "vae-auto": [60.0] * len(fids)},
        curves={
            "two-stage-auto": [[point(60, fid, 10000)] for fid in fids],
            "vae-auto": [[point(60, 2 * fid, 10000)] for fid in fids],
        },
        **{**defaults, **fields},
    )


def test_seeds_from_two_runs_join_in_seed_order_with_their_sources_named() -> None:
    later = seeds_record("race-b", 1, [16.0, 17.0], machine="2 cores (AMD EPYC), torch 2.13.0+cpu, load average 1.9")
    earlier = seeds_record("race-a", 0, [15.0], vae_overrides={"model": {"latent_dim": 64}})  # today's preset
    note = "Seed 0 ran older code."
    record = merged([later, earlier], ["two-stage-auto"], "race-ab", "three seeds", "python merge_races.py", note)
    assert [run[-1]["fid"] for run in record["curves"]["two-stage-auto"]] == [15.0, 16.0, 17.0]
    assert list(record["curves"]) == ["two-stage-auto"]  # only the variants asked for
    assert record["seeds"] == 3 and record["first_seed"] == 0
    assert record["trained_seconds"]["two-stage-auto"] == [60.0] * 3
    assert record["total_minutes"] == 6.0
    assert record["merged_from"] == ["race-a", "race-b"]
    assert "`race-a` (seed(s) 0;" in record["notes"] and "`race-b` (seed(s) 1, 2;" in record["notes"]
    assert record["notes"].endswith("Seed 0 ran older code.")
    assert record["stages"]["two-stage-auto"] == [None, None, None]  # records from before stage logs


def test_the_stage_logs_join_in_seed_order() -> None:
    log = [{"stage": "vae", "steps": 10, "closing_loss": 2.0}]
    logs = {"stages": {"two-stage-auto": [log], "vae-auto": [log]}, "lr_warmup_steps": 100}
    records = [
        seeds_record("race-b", 1, [16.0], **logs),
        seeds_record("race-a", 0, [15.0], lr_warmup_steps=100, vae_overrides={}),
    ]
    record = merged(records, ["two-stage-auto"], "race-ab", "", "")
    assert record["stages"] == {"two-stage-auto": [None, log]} and record["lr_warmup_steps"] == 100


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"minutes": 2.0}, "minutes"),
        ({"vae_overrides": {"model": {"latent_dim": 32}}}, "vae"),
        ({"gan": {"lr_g": 0.0004}}, "gan"),
        ({"machine": "2 cores (Intel Xeon), torch 2.13.0+cpu, load average 0.4"}, "machine"),
        ({"lr_warmup_steps": 100}, "lr_warmup_steps"),  # race-a is from before the VAE's warm-up
        ({"gan": {"lr_g": 0.0002, "disc_kind": "projected"}}, "gan"),  # race-a's D was the conv one
    ],
)
def test_a_run_of_another_recipe_is_refused_naming_what_differs(change: dict, named: str) -> None:
    with pytest.raises(SystemExit, match=f"race-b raced another recipe than race-a \\({named} differ"):
        records = [seeds_record("race-a", 0, [15.0]), seeds_record("race-b", 1, [16.0], **change)]
        merged(records, ["vae-auto"], "x", "", "")


def test_a_gan_setting_added_since_an_older_race_counts_as_its_default() -> None:
    newer = seeds_record("race-b", 1, [16.0], gan={"lr_g": 0.0002, "disc_kind": "conv", "anchor_decay_steps": 0})
    record = merged([seeds_record("race-a", 0, [15.0], vae_overrides={}), newer], ["vae-auto"], "x", "", "")
    assert record["seeds"] == 2


def test_a_race_from_before_a_setting_left_joins_a_newer_one_where_it_ran_the_value_that_remains() -> None:
    gan = {"lr_g": 0.0002, "spectral_norm": False, "disc_head": "linear"}
    older = seeds_record("race-a", 0, [15.0], gan=gan, vae_overrides={})
    newer = seeds_record("race-b", 1, [16.0])
    assert merged([older, newer], ["vae-auto"], "x", "", "")["seeds"] == 2
    other = seeds_record("race-a", 0, [15.0], gan={"lr_g": 0.0002, "disc_head": "patch"})
    with pytest.raises(SystemExit, match="race-b raced another recipe than race-a \\(gan differ"):
        merged([other, newer], ["vae-auto"], "x", "", "")


def test_a_seed_raced_twice_or_a_missing_variant_is_refused() -> None:
    with pytest.raises(SystemExit, match="seeds \\[0, 1, 1\\] repeat"):
        merged([seeds_record("race-a", 0, [15.0, 15.5]), seeds_record("race-b", 1, [16.0])], ["vae-auto"], "x", "", "")
    with pytest.raises(SystemExit, match="race-a has no dcgan"):
        merged([seeds_record("race-a", 0, [15.0]), seeds_record("race-b", 1, [16.0])], ["dcgan"], "x", "", "")
