"""Issue 67's curve: step budgets from a throughput record, points trained by the product's own command in
processes a deadline stops, packed exactly for scoring elsewhere, records tabled in RESULTS.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import lzma
import math
import os
import shlex
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from curve import BY_NAME, Point, Stage, defaults, plan, reference_rates, shown
from curve_points.jobs import Job, finished, run_jobs
from curve_points.pack import FILE_BYTES, TAR_END, Item, byte_planes, from_planes, pack, place, sampler, slim, unpack
from curve_points.regan import regan
from curve_points.score import discriminator, draw, load_beside, score_point, sources, wall_clock
from minutes_curve import CHART, STALE, curve_section, draw_curves, peers_rows, where
from PIL import Image
from report import README_STALE, curve_cells, readme_table

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import seal
from vaegan.config import GANConfig, vae_run_config
from vaegan.flow_prior import FLOW_NAME, RECIPE, saved_recipe
from vaegan.presets import dataset_defaults
from vaegan.prior import fitted_prior
from vaegan.runs import open_run
from vaegan.training.loop import Sampler

RECORD = {
    "name": "kind-a",
    "kind": "a CPU",
    "rows": [
        {"table": "shipped", "data": "64x64 RGB emoji", "step": "VAE", "auto": False, "img_s": 400},
        {"table": "shipped", "data": "64x64 RGB emoji", "step": "VAE", "auto": True, "img_s": 600},
        {"table": "shipped", "data": "64x64 RGB emoji", "step": "GAN", "auto": True, "img_s": 400},
        {"table": "tutorial", "data": "64x64 RGB emoji", "step": "GAN", "auto": True, "img_s": 9999},
    ],
}
BATCHES = {"vae": 64, "gan": 64}


def test_a_budget_is_the_whole_epochs_whose_idle_time_adds_up_to_its_minutes() -> None:
    rates = reference_rates(RECORD, "emoji")
    assert rates == {"vae": 600.0, "gan": 400.0}  # the auto rows of the shipped table only
    two = plan(Point("emoji", 6, 0, "two-stage"), rates, BATCHES, n_train=3409)
    assert two.vae.per_epoch == 54 and two.vae.epochs == 31  # 180 s x 600 img/s / 64 = 1,688 steps: 31.3 epochs
    assert two.gan is not None and two.gan.epochs == 21  # what the VAE's 2.98 minutes leave: 1,134 GAN steps
    assert two.idle_minutes == pytest.approx(6, abs=0.5 * 54 * 64 / 400 / 60)  # within half a GAN epoch
    alone = plan(Point("emoji", 6, 0, "vae"), rates, BATCHES, n_train=3409)
    assert alone.gan is None and alone.vae.epochs == 62 and alone.idle_minutes == pytest.approx(5.95, abs=0.01)
    assert Stage(epochs=2, per_epoch=10, batch=6, img_s=2).idle_minutes == 1.0  # 120 images at 2 img/s
    with pytest.raises(SystemExit, match="kind-a has no auto rows for 28x28 Fashion-MNIST"):
        reference_rates(RECORD, "fashion-mnist")


@pytest.mark.parametrize("data", ["emoji", "fashion-mnist"])
def test_a_points_configs_are_the_presets_on_the_cpu(data: str) -> None:
    preset = dataset_defaults(data)
    model, recipe = vae_run_config(**preset).model, GANConfig(**preset.get("gan", {}))  # what `vaegan run` trains
    cfg, gan = defaults(data)
    assert cfg.model.prior_components == model.prior_components and cfg.model == model
    assert gan.r1_every == recipe.r1_every and gan == dataclasses.replace(recipe, device="cpu")
    assert cfg.data.source == data and cfg.train.device == "cpu"


def test_draw_gives_n_uint8_images_from_a_seed() -> None:
    decode = lambda z: z.view(-1, 1, 2, 2)  # noqa: E731  # values in [-3, 3]: clamped to the range
    sampler = Sampler("vae", decode, lambda: lambda n, g: torch.randn(n, 4, generator=g), (-1.0, 1.0))
    images = draw(sampler, 10, seed=0, batch_size=4)
    assert images.shape == (10, 1, 2, 2) and images.dtype == torch.uint8
    assert torch.equal(images, draw(sampler, 10, seed=0, batch_size=4))
    assert not torch.equal(images, draw(sampler, 10, seed=1, batch_size=4))


def test_weights_travel_as_byte_planes_bit_for_bit() -> None:
    for t in (torch.randn(3, 5), torch.arange(7), torch.tensor(2.5, dtype=torch.float64), torch.randn(0, 2)):
        assert torch.equal(from_planes(byte_planes(t), t.dtype, list(t.shape)), t)
    assert byte_planes(torch.ones(4)).shape == (4, 4)  # (bytes per element, elements)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny two-stage run on a folder of pictures, trained by `vaegan run` in a job as curve.py trains."""
    root = tmp_path_factory.mktemp("curve")
    (root / "pictures").mkdir()
    splits = tiny_splits(n=24)
    for i, image in enumerate(splits.train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "pictures" / f"{i}.png")
    run = root / "runs" / "emoji-6min-two-stage-seed0"
    gan = ["--disc-channels", "4", "--gan-batch-size", "4", "--gan-epochs", "1", "--epochs", "1"]
    command = [sys.executable, "-m", "vaegan", "run", "--data", str(root / "pictures"), *TINY_FLAGS, *gan]
    job = Job(run.name, run, [[*command, "--out", str(run)]], [shown([*command, "--out", str(run)])])
    run_jobs([job], 1, None, dict(os.environ))
    assert finished(run), (run / "log.txt").read_text()
    return run


def test_a_packed_point_draws_the_runs_own_samples_and_fits_the_limits(trained: Path, tmp_path: Path) -> None:
    point = Point("emoji", 6, 0, "two-stage")
    slim(trained, point, tmp_path / "slim")
    run = open_run(trained)
    prior = fitted_prior(run)  # the flow the GAN stage fitted and saved beside the VAE
    for stage, decode in (("gan", run.generator(ema=True)), ("vae", run.vae().decoder)):
        own = Sampler(stage, decode, lambda: lambda n, g: prior.sample(n, g), run.config.model.value_range)
        assert torch.equal(draw(sampler(tmp_path / "slim", stage), 12, seed=5), draw(own, 12, seed=5))
    listing = pack(trained.parent, tmp_path / "out")
    assert list(listing["tars"]) == ["curve-1.tar"] and not listing["left_out"]
    with tarfile.open(tmp_path / "out" / "curve-1.tar") as tar:  # the size planned bounds the size written
        planned = sum(512 + 512 * math.ceil(m.size / 512) for m in tar.getmembers()) + TAR_END
    padded = tarfile.RECORDSIZE * math.ceil(planned / tarfile.RECORDSIZE)  # a tar ends on a whole record
    assert planned - TAR_END < listing["tars"]["curve-1.tar"]["bytes"] <= padded
    assert (tmp_path / "out" / "curve-1.tar").stat().st_size <= FILE_BYTES
    folders = unpack(tmp_path / "out", tmp_path / "back")
    assert [f.name for f in folders] == [point.name]
    back = draw(sampler(folders[0], "gan"), 12, seed=5)
    assert torch.equal(back, draw(sampler(tmp_path / "slim", "gan"), 12, seed=5))


def test_a_gan_stage_trained_from_an_older_flow_recipe_is_not_packed(trained: Path, tmp_path: Path) -> None:
    """Packing refits the flow to today's recipe; under a GAN stage that drew z from another, it would hide it."""
    run = tmp_path / trained.name
    shutil.copytree(trained, run)
    flow = run / "vae" / FLOW_NAME
    payload = torch.load(flow, weights_only=True)
    del payload["checksum"]
    payload["recipe"] = {k: v for k, v in payload["recipe"].items() if k != "t_logit"}  # uniform t, before levers 44
    torch.save(seal(payload), flow)
    with pytest.raises(SystemExit, match=f"older flow recipe; curve.py regan {trained.name}"):
        slim(run, Point("emoji", 6, 0, "two-stage"), tmp_path / "slim")
    assert saved_recipe(flow) == payload["recipe"]  # left as the GAN stage drew from it


def test_pack_keeps_the_order_that_matters_within_its_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def item(rank: int, name: str, size: int) -> Item:
        (tmp_path / "staging" / name).mkdir(parents=True)
        (tmp_path / "staging" / name / "w").write_bytes(b"x" * size)
        return Item((rank, 0), name, (tmp_path / "staging" / name / "w",), tmp_path / "staging")

    made = [item(0, "first", 50_000), item(1, "second", 50_000), item(2, "third", 20_000), item(3, "big", 90_000)]
    monkeypatch.setattr("curve_points.pack.items", lambda runs, staging: made)
    monkeypatch.setattr("curve_points.pack.FILE_BYTES", 85_000)
    monkeypatch.setattr("curve_points.pack.MAX_BYTES", 150_000)
    (tmp_path / "out").mkdir()
    listing = pack(tmp_path, tmp_path / "out")
    assert {name: t["points"] for name, t in listing["tars"].items()} == {
        "curve-1.tar": ["first", "third"],  # first fit: the third's 20 kB fill the first tar
        "curve-2.tar": ["second"],
    }
    assert [x["point"] for x in listing["left_out"]] == ["big"]  # larger than a tar may be
    assert listing["tars"]["curve-1.tar"]["bytes"] == 50_688 + 20_992 + 10_240  # headers, padding and end: as planned
    assert sum(t["bytes"] for t in listing["tars"].values()) <= 150_000


def fake_scores(fid: float) -> dict[str, float]:
    return {"fid": fid, "kid": 0.01, "defect": 1.1, "sharpness": 0.8, "n_fake": 50, "n_real": 60, "reliable": False}


class StubScorer:
    """Inception's place: the same metrics for every stage, `fid` apart."""

    def __init__(self, fid: float) -> None:
        self.fid = fid

    def stage(self, folder: Path, stage: str, point: Point, cfg: object) -> dict[str, float]:
        return fake_scores(self.fid + (10 if stage == "vae" else 0))

    def real_side(self, cfg: object) -> tuple[None, str, None]:
        return None, "all tiny images", None


def test_a_record_holds_the_steps_idle_minutes_commands_and_where_it_trained(trained: Path, tmp_path: Path) -> None:
    point = Point("emoji", 6, 0, "two-stage")
    slim(trained, point, tmp_path)
    record = score_point(tmp_path, point, StubScorer(80.0), RECORD)  # type: ignore[arg-type]
    assert record["record"] == "curve-6min-two-stage-seed0" and record["reference"]["record"] == "kind-a"
    steps = {stage: open_run(trained).stage(stage).checkpoint.loop.step for stage in ("vae", "gan")}
    assert {stage: record["steps"][stage]["steps"] for stage in steps} == steps and min(steps.values()) > 0
    assert record["idle_minutes"] == pytest.approx((steps["vae"] * 4 / 600 + steps["gan"] * 4 / 400) / 60, abs=1e-3)
    assert record["commands"]["train"][0].startswith("vaegan run --data ")
    assert record["trained"]["attempts"] == 1 and record["trained"]["device"]
    assert record["trained"]["load"] >= 0 and record["trained"]["cores"] >= 1  # what shared the machine
    assert record["scores"]["gan"]["fid"] == 80.0 and record["scores"]["vae"]["fid"] == 90.0
    assert set(record["discriminator"]) == {"epoch", "d_real", "d_fake", "d_steps"}
    assert record["discriminator"]["d_steps"] == open_run(trained).stage("gan").checkpoint.config.gan.d_steps
    assert record["flow_recipe"] == RECIPE


def test_the_record_names_d_steps_until_only_where_the_stage_got_past_it(trained: Path, tmp_path: Path) -> None:
    shutil.copytree(trained / "gan", tmp_path / "gan")
    config = json.loads((tmp_path / "gan" / "config.json").read_text())
    assert (config["gan"]["d_steps"], config["gan"]["d_steps_until"]) == (4, 1200)  # colour's schedule
    short = discriminator(tmp_path)
    assert short is not None and "d_steps_until" not in short  # a few steps: the stage never switched
    config["gan"]["d_steps_until"] = 1
    (tmp_path / "gan" / "config.json").write_text(json.dumps(config))
    switched = discriminator(tmp_path)
    assert switched is not None and switched["d_steps_until"] == 1


def test_regan_keeps_the_vae_stage_and_the_record_counts_its_seconds(trained: Path, tmp_path: Path) -> None:
    point, folder = Point("emoji", 6, 0, "two-stage"), tmp_path / "runs" / "emoji-6min-two-stage-seed0"
    shutil.copytree(trained, folder)
    record = tmp_path / "record.json"
    record.write_text("{}")
    vae_step = open_run(folder).stage("vae").checkpoint.loop.step
    reused = regan(folder, record)
    assert not record.exists() and reused["from"] == str(tmp_path / "runs-replaced" / folder.name)
    assert (folder / "vae" / "checkpoint.pt").is_file() and not (folder / "gan").exists()
    assert not (folder / "vae" / "flow_prior.pt").exists() and reused["vae_seconds"] > 0
    command = shlex.split(json.loads((trained / "train.json").read_text())["attempts"][0]["commands"][0])[1:-2]
    run = [sys.executable, "-m", "vaegan", *command, "--out", str(folder)]
    run_jobs([Job(folder.name, folder, [run], [shown(run)])], 1, None, dict(os.environ))
    assert finished(folder) and open_run(folder).stage("vae").checkpoint.loop.step == vae_step
    slim(folder, point, tmp_path / "slim")
    scored = score_point(tmp_path / "slim", point, StubScorer(80.0), RECORD)  # type: ignore[arg-type]
    new_attempt = json.loads((folder / "train.json").read_text())["attempts"][0]["wall_seconds"]
    assert scored["trained"]["wall_seconds"] == pytest.approx(reused["vae_seconds"] + new_attempt, abs=0.11)
    assert len(scored["commands"]["train"]) == 2 and "VAE stage" in scored["note"]


def test_score_takes_only_the_points_it_is_named(trained: Path, tmp_path: Path) -> None:
    def found(*points: str) -> list[str]:
        args = argparse.Namespace(packed=[], runs=trained.parent, grids=tmp_path / "grids", points=list(points))
        return [point.name for point, _ in sources(args, tmp_path / points[0] if points else tmp_path / "all")]

    assert found() == [trained.name] == found(trained.name)
    assert found("emoji-6min-two-stage-seed1") == []  # a second scorer beside it leaves this one alone
    record = BY_NAME[trained.name].record_path(tmp_path / "grids")
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"flow_recipe": {k: v for k, v in RECIPE.items() if k != "t_logit"}}))
    assert found() == [] and found(trained.name) == [trained.name]  # named, a stale record is scored again
    record.write_text(json.dumps({"flow_recipe": dict(RECIPE)}))
    assert found(trained.name) == []


def curve_record(minutes: float, seed: int, variant: str, fid: float, vae_steps: int) -> dict:
    scores = {"gan": fake_scores(fid), "vae": fake_scores(fid + 30)} if variant == "two-stage" else {}
    if variant == "vae":
        scores = {"vae": fake_scores(fid)}
    steps = {
        "vae": {"steps": vae_steps, "idle_minutes": minutes / (2 if variant == "two-stage" else 1), "seconds": 30.0}
    }
    if variant == "two-stage":
        steps["gan"] = {"steps": 100, "idle_minutes": minutes / 2}
    return {
        "point": {"data": "emoji", "minutes": minutes, "seed": seed, "variant": variant},
        "reference": {"record": "kind-a", "kind": "a CPU"},
        "steps": steps,
        "idle_minutes": minutes,
        "trained": {"device": "a GPU", "wall_seconds": 60.0, "jobs_at_once": 12, "attempts": 1},
        "samples": 50,
        "real": {"count": 60},
        "scores": scores,
        "discriminator": {"epoch": 3, "d_real": 0.6, "d_fake": 0.4} if variant == "two-stage" else None,
        "flow_recipe": dict(RECIPE),
    }


def test_the_curve_table_averages_seeds_beside_the_targets_and_says_where_fid_stops_falling(tmp_path: Path) -> None:
    records = [
        curve_record(6, 0, "two-stage", 90, 300),
        curve_record(6, 1, "two-stage", 100, 300),
        curve_record(30, 0, "two-stage", 95, 1500),  # no better than at 6 minutes
        curve_record(15, 0, "vae", 122, 1500),  # the 30-minute two stages' VAE steps, trained on their own
        curve_record(60, 0, "vae", 110, 6000),
    ]
    records[1]["discriminator"]["d_steps"] = 4  # records[0] predates the field: trained at 1
    records[2]["discriminator"].update(d_steps=4, d_steps_until=1200)
    (tmp_path / "emoji").mkdir()
    for i, r in enumerate(records):
        (tmp_path / "emoji" / f"curve-{i}.json").write_text(json.dumps(r))
    text = "\n".join(curve_section(tmp_path))
    assert "| VAE then GAN | 6 (6.00) | 300 + 100 | 2 | 95.0 ± 7.1 | ≤ 95 (3 seeds) |" in text
    assert "| VAE alone | 3 (3.00) | 300 | 2 | 125.0 ± 7.1 | – |" in text  # the two-stage runs' VAE stage
    assert "| VAE alone | 15 (15.00) | 1,500 | 1 | 122.0 |" in text  # the same steps twice: the VAE alone's record
    assert "Not the curve" not in text
    records[0]["data_source"] = "emoji:faces"
    (tmp_path / "emoji" / "curve-0.json").write_text(json.dumps(records[0]))
    assert "- Not the curve: trained on emoji:faces (`curve.py train --dry-run`)." in curve_section(tmp_path)
    assert "VAE then GAN: no better at 30 min" in text and "VAE alone: each budget beats the one before" in text
    assert "0.60 ± 0.00 / 0.40 ± 0.00 (d_steps 1, 4) | 1.0 min (12 jobs at once, load unrecorded) |" in text
    assert "0.60 / 0.40 (d_steps 4 then 1 from step 1,200) |" in text
    vae_half = next(line for line in text.splitlines() if line.startswith("| VAE alone | 3 (3.00)"))
    assert vae_half.endswith("| 0.5 min (12 jobs at once, load unrecorded) |")  # its stage's own seconds
    assert "Trained on a GPU." in text  # one device: named once, not per row
    assert "†" not in text
    del records[3]["flow_recipe"]  # scored before the recipe was recorded, or under another one
    (tmp_path / "emoji" / "curve-3.json").write_text(json.dumps(records[3]))
    text = "\n".join(curve_section(tmp_path))
    assert "| VAE alone | 15 (15.00) | 1,500 | 1 | 122.0 † |" in text and f"- {STALE}" in text
    assert "| VAE alone | 60 (60.00) | 6,000 | 1 | 110.0 |" in text
    for r, load in zip(records[:2], (1.5, 2.5), strict=True):  # sampled beside the jobs: the other work shows
        r["trained"].update(load=load, cores=2)
    for i, r in enumerate(records[:2]):
        (tmp_path / "emoji" / f"curve-{i}.json").write_text(json.dumps(r))
    assert "| 1.0 min (load 2.0 on 2 cores) |" in "\n".join(curve_section(tmp_path))


def test_the_gpu_defaults_peer_row_is_marked_when_its_flow_is_older_and_dcgan_never() -> None:
    def peer(variant: str) -> dict:
        stage = {"steps": 10, "seconds": 60.0}
        return {
            "point": {"data": "emoji", "minutes": 4, "seed": 0, "variant": variant},
            "steps": {"vae": stage, "gan": stage} if variant == "gpu-default" else {"dcgan": stage},
            "trained": {"device": "a GPU", "wall_seconds": 60.0, "jobs_at_once": 2, "attempts": 1},
            "scores": {"gan": fake_scores(90.0)},
        }

    gpu, dcgan = peer("gpu-default"), peer("dcgan")  # neither names a recipe: scored before levers 44
    marked = [line for line in peers_rows([gpu, dcgan]) if "†" in line]
    assert len(marked) == 1 and marked[0].startswith("| vaegan, the GPU default")
    assert not any("†" in line for line in peers_rows([{**gpu, "flow_recipe": dict(RECIPE)}, dcgan]))


def test_the_readme_cells_and_the_chart_come_from_the_curve_records(tmp_path: Path) -> None:
    records = [
        curve_record(6, 0, "two-stage", 90, 300),
        curve_record(6, 1, "two-stage", 100, 300),
        curve_record(30, 0, "two-stage", 80, 1500),
    ]
    (tmp_path / "emoji").mkdir()
    (tmp_path / "emoji" / "curve-0.json").write_text(json.dumps(records[2]))
    assert draw_curves(tmp_path) == [] and not (tmp_path / "emoji" / CHART).exists()  # one budget: the table says it
    for i, r in enumerate(records):
        (tmp_path / "emoji" / f"curve-{i}.json").write_text(json.dumps(r))
    cells = curve_cells(tmp_path)["emoji"]
    assert cells["two-stage"] == ("95.0 ± 7.1 / 80.0", "6 / 30 min")
    assert cells["vae"] == ("125.0 ± 7.1 / 110.0", "3 / 15 min")  # the two-stage runs' VAE stage, at its budget
    assert draw_curves(tmp_path) == ["emoji"]
    assert Image.open(tmp_path / "emoji" / CHART).size[0] > 300
    assert "![FID by step budget](results/emoji/fid-by-budget.png)" in "\n".join(curve_section(tmp_path))
    assert README_STALE not in readme_table([], tmp_path)[0]
    del records[2]["flow_recipe"]  # the 30-minute point drew z from an older flow
    (tmp_path / "emoji" / "curve-2.json").write_text(json.dumps(records[2]))
    cell = curve_cells(tmp_path)["emoji"]["two-stage"]
    assert cell == ("95.0 ± 7.1 / 80.0 †", "6 / 30 min")  # the mark on its budget alone
    assert readme_table([], tmp_path)[0].endswith(README_STALE)  # the lead says what the mark means


def test_carried_data_goes_where_vaegan_reads_it_or_a_root_flag_says_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    carried = tmp_path / "carried"
    (carried / "fashion-mnist").mkdir(parents=True)
    (carried / "NotoColorEmoji.ttf").write_bytes(b"font")
    (carried / "fashion-mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"idx")
    (carried / "v1-abc-emoji2.16.0-64px-3ch.pt.xz").write_bytes(lzma.compress(b"rendered"))
    (tmp_path / "a-file").write_text("")  # a folder cannot be made under it: not ours to write
    monkeypatch.setattr("vaegan.data.emoji.FONT_PATH", str(tmp_path / "fonts" / "NotoColorEmoji.ttf"))
    monkeypatch.setattr("vaegan.data.idx.FASHION_MNIST_ROOT", str(tmp_path / "a-file" / "fashion-mnist"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    place(carried)
    assert (tmp_path / "fonts" / "NotoColorEmoji.ttf").read_bytes() == b"font"
    assert (
        tmp_path / "home" / ".cache" / "vaegan" / "emoji" / "v1-abc-emoji2.16.0-64px-3ch.pt"
    ).read_bytes() == b"rendered"
    assert capsys.readouterr().out.split() == ["--data-root", f"fashion-mnist={carried / 'fashion-mnist'}"]


def test_the_load_beside_a_point_weighs_its_attempts_and_is_unknown_if_one_was_not_sampled() -> None:
    assert load_beside([{"wall_seconds": 100.0, "load": 1.0}, {"wall_seconds": 300.0, "load": 3.0}]) == 2.5
    assert load_beside([{"wall_seconds": 100.0, "load": 1.0}, {"wall_seconds": 300.0}]) is None
    assert load_beside([]) is None


def test_a_lone_job_without_a_load_claims_no_idle_machine() -> None:
    trained = {"device": "a CPU", "wall_seconds": 120.0, "jobs_at_once": 1}
    assert where([{"record": {"trained": trained}}]) == "a CPU: 2.0 min wall (load unrecorded)"
    trained.update(load=1.04, cores=2)
    assert where([{"record": {"trained": trained}}]) == "a CPU: 2.0 min wall (load 1.0 on 2 cores)"


def test_wall_clock_is_never_less_than_the_stages_trained() -> None:
    steps = {"vae": {"steps": 10, "seconds": 300.0}, "gan": {"steps": 5, "seconds": 200.0}}
    # an attempt killed with its session before jobs.py wrote attempts as they ran: only the last one is on record
    assert wall_clock([{"wall_seconds": 120.0}], steps) == {
        "wall_seconds": 500.0,
        "wall_from": "the stages' own seconds (some attempts went unrecorded)",
    }
    assert wall_clock([{"wall_seconds": 400.0}, {"wall_seconds": 150.0}], steps)["wall_seconds"] == 550.0
