"""Hub-style weights: a tiny run exported, loaded back bit for bit without its training images, from a
folder and from an offline Hugging Face cache; its model card; and push_to_hub as a call into huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import vaegan
from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.card import LICENCES, card_facts, fid_lines, render_card
from vaegan.checkpoint import weights
from vaegan.config import VAERunConfig, from_dict
from vaegan.errors import VaeganError
from vaegan.explorer.core import Explorer
from vaegan.hub import save_pretrained
from vaegan.pipeline import run_pipeline
from vaegan.runs import open_run

FILES = {"model.safetensors", "config.json", "flow_prior.pt", "samples.png", "README.md"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the images, a trained two-stage run on them, its export)."""
    root = tmp_path_factory.mktemp("hub")
    images = root / "pictures"
    images.mkdir()
    for i, image in enumerate(tiny_splits(n=48).train.images):  # 40 images: 30 to train on, 10 held out
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(images / f"{i}.png")
    cfg = tiny_config()
    cfg = replace(cfg, data=replace(cfg.data, source=str(images), val_fraction=0.25))
    run = run_pipeline(cfg, tiny_gan(), root / "run", progress=False).run_dir
    return images, run, vaegan.load(run).save_pretrained(root / "export")


def test_from_pretrained_samples_bitwise_as_the_run_without_its_images(exported: tuple[Path, Path, Path]) -> None:
    images, run, export = exported
    draws = [(stage, sampler) for stage in ("vae", "gan") for sampler in ("auto", "prior", "fitted")]
    own = {draw: vaegan.load(run, draw[0]).sample(8, seed=5, sampler=draw[1]) for draw in draws}
    hidden = images.with_name("hidden")
    images.rename(hidden)  # the export carries its fitted prior: sampling needs no training image
    try:
        for (stage, sampler), expected in own.items():
            model = vaegan.from_pretrained(export, stage=stage)
            assert model.stage == stage and model.run.path == export
            assert torch.equal(model.sample(8, seed=5, sampler=sampler), expected), (stage, sampler)
    finally:
        hidden.rename(images)
    for stage in ("vae", "gan"):  # every tensor, the discriminator's and the raw generator's too
        ours, theirs = (weights(open_run(p).stages[stage].checkpoint) for p in (run, export))
        assert ours.keys() == theirs.keys()
        for field, state in ours.items():
            assert state.keys() == theirs[field].keys()
            assert all(torch.equal(t, theirs[field][k]) for k, t in state.items()), field


def test_the_export_holds_safetensors_json_the_prior_and_a_card(exported: tuple[Path, Path, Path]) -> None:
    _, run, export = exported
    assert {p.name for p in export.iterdir()} == FILES
    raw = (export / "model.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])  # safetensors: a JSON header, then raw bytes; no pickle anywhere
    keys = set(json.loads(raw[8 : 8 + length])) - {"__metadata__"}
    assert {k.split(".")[0] for k in keys} == {"vae", "gan"} and any(k.startswith("gan.ema.") for k in keys)
    config = json.loads((export / "config.json").read_text())
    own = open_run(run).config  # the export names the images' folder alone, no path of this machine
    shared = replace(own, data=replace(own.data, source="pictures"))
    assert from_dict(VAERunConfig, config["stages"]["vae"]["config"]) == shared
    assert str(run.parent) not in json.dumps(config) and config["stages"]["gan"]["config"]["vae_checkpoint"] == (
        "model.safetensors"
    )
    assert "optimizer" not in config["stages"]["vae"] and "opt_g" not in config["stages"]["gan"]
    card = (export / "README.md").read_text()
    assert card.startswith("---\nlicense:") and "\nlibrary_name: vaegan\n" in card.split("---")[1]
    for told in ("30 training images, 10 held out", "16x16 pixels, 3 channel(s)", "| vae | 2 | 16 |", "| gan | 1 |"):
        assert told in card, told
    assert "FID not measured (--quality-every 0)" in card and 'vaegan.from_pretrained("OWNER/NAME")' in card
    with Image.open(export / "samples.png") as picture:
        assert picture.width > 4 * picture.height  # one row of 8 per stage


def test_an_export_of_an_export_is_the_same_folder(exported: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, export = exported
    again = vaegan.from_pretrained(export).save_pretrained(tmp_path / "again")
    for name in FILES:
        assert (again / name).read_bytes() == (export / name).read_bytes(), name


def test_the_card_names_each_fid_with_its_protocol(exported: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, run, _ = exported
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    assert fid_lines(open_run(copy)) == ["FID not measured (--quality-every 0)"]  # summary.txt's
    evaluation = {
        "samplers": {"gan_samples": "the fitted prior"},
        "inception": {"gan_samples": {"fid": 41.25, "n_fake": 10000, "n_real": 10000}},
    }
    (copy / "evaluation_inception.json").write_text(json.dumps(evaluation))
    assert fid_lines(open_run(copy)) == [
        "gan_samples: FID 41.25 (z from the fitted prior; Inception features by docs/FID.md's protocol; "
        "10000 generated vs 10000 real)"
    ]
    (copy / "evaluation_inception.json").unlink()
    (copy / "summary.txt").unlink()
    with (copy / "vae" / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"stage": "vae", "epoch": 2, "step": 16, "quality/fid": 12.5}) + "\n")
    assert fid_lines(open_run(copy)) == [
        "VAE 12.50 at epoch 2 (its training log: z from N(0, I), vaegan's own feature space, against held-out images)"
    ]


def test_the_explorer_opens_an_export(exported: tuple[Path, Path, Path]) -> None:
    _, _, export = exported
    explorer = Explorer.from_run(export)
    assert set(explorer.models) == {"vae", "gan"} and explorer.default_stage == "gan"


def test_a_repo_id_loads_from_an_offline_hub_cache(exported: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The files laid out as huggingface_hub caches them (blobs, a snapshot of links, refs/main), read in a
    process that may not go online: HF_HUB_OFFLINE=1, its cache and home in this test's folder."""
    _, run, export = exported
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-vaegan"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for file in export.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)  # no newline, as huggingface_hub writes it
    script = (
        "import hashlib, vaegan\n"
        "from vaegan.errors import VaeganError\n"
        "model = vaegan.from_pretrained('someone/tiny-vaegan', stage='gan')\n"
        "print(model.run.path)\n"
        "print(hashlib.sha256(model.sample(8, seed=5).numpy().tobytes()).hexdigest())\n"
        "try:\n"
        "    vaegan.from_pretrained('someone/not-cached')\n"
        "except VaeganError as exc:\n"
        "    print(exc)\n"
    )
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        "HF_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(Path(vaegan.__file__).parents[1]),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    path, digest, refused = done.stdout.splitlines()
    assert Path(path).resolve() == snapshot.resolve()
    assert digest == hashlib.sha256(vaegan.load(run, "gan").sample(8, seed=5).numpy().tobytes()).hexdigest()
    assert "someone/not-cached" in refused and "HF_HUB_OFFLINE" in refused


def test_push_to_hub_is_one_upload_of_the_export(
    exported: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    _, run, _ = exported
    calls: list[tuple] = []

    class Api:  # huggingface_hub.HfApi's two calls, recorded where the network would be
        def __init__(self, token: str | None = None) -> None:
            calls.append(("login", token))

        def create_repo(self, repo_id: str, private: bool, exist_ok: bool) -> None:
            calls.append(("create", repo_id, private, exist_ok))

        def upload_folder(self, folder_path: str, repo_id: str, commit_message: str) -> SimpleNamespace:
            card = (Path(folder_path) / "README.md").read_text()
            calls.append(("upload", repo_id, {p.name for p in Path(folder_path).iterdir()}, "someone/tiny" in card))
            return SimpleNamespace(commit_url="https://huggingface.co/someone/tiny/commit/1")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    url = vaegan.load(run).push_to_hub("someone/tiny", private=True, token="hf_x")
    assert url == "https://huggingface.co/someone/tiny/commit/1"
    assert calls == [("login", "hf_x"), ("create", "someone/tiny", True, True), ("upload", "someone/tiny", FILES, True)]


def test_what_is_no_export_is_refused_by_name(exported: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, run, _ = exported
    with pytest.raises(VaeganError, match="is not a vaegan export .*vaegan.load"):
        vaegan.from_pretrained(run)
    with pytest.raises(VaeganError, match="no Hugging Face repo id"):
        vaegan.from_pretrained(tmp_path / "no" / "such" / "folder")
    with pytest.raises(VaeganError, match="exists and is not a vaegan export"):
        vaegan.load(run).save_pretrained(run / "vae")


def test_a_repo_id_that_is_not_owner_name_is_refused_before_any_work(tmp_path: Path) -> None:
    for forged in ("someone/tiny\n---\nlicense: mit\n<script>alert(1)</script>", "no-slash", "a/b/c", "a b/c"):
        with pytest.raises(VaeganError, match="is not OWNER/NAME"):
            save_pretrained(tmp_path / "no-run", tmp_path / "export", repo_id=forged)
    assert not list(tmp_path.iterdir())


def test_the_card_writes_every_fact_as_literal_text(exported: tuple[Path, Path, Path]) -> None:
    """A folder's name is the user's and an export's facts may be edited: none opens HTML or Markdown."""
    _, run, _ = exported
    facts = card_facts(open_run(run), None)
    facts["data"]["source"] = 'a folder (x<svg onload=alert(11)>"q)'
    facts["stages"]["vae"]["device"] = "cpu | <b>fast</b>"
    facts["fid"] = ["VAE 12.5\n```\n<script>alert(2)</script>"]
    card = render_card(facts, open_run(run).config, None, ["README.md"])
    assert "<svg" not in card and "<b>" not in card
    assert 'x&lt;svg onload=alert(11)&gt;"q' in card and "cpu \\| &lt;b&gt;fast&lt;/b&gt;" in card
    # one line of the quality block, where Markdown renders no HTML, and the block not closed early
    assert "```text\nVAE 12.5 ''' <script>alert(2)</script>\n```\n" in card and card.count("```") == 4


def test_the_card_names_the_device_licence_budget_and_copy_rate(
    exported: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, run, export = exported
    card = (export / "README.md").read_text()
    assert "- licence of the images: the user's images" in card
    assert "## Limitations" in card and "training budget: VAE 16 optimiser steps in " in card and ", GAN 8 in " in card
    assert "Copies of training images: not measured; `vaegan nearest RUN`" in card
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    opened = open_run(copy)
    assert all(r["device"] == "cpu" for r in opened.stages["vae"].metrics)  # what --device auto chose, recorded
    vae = opened.stages["vae"].checkpoint
    vae.config = replace(vae.config, train=replace(vae.config.train, device="auto"))  # type: ignore[arg-type]
    evaluation = {"gan_samples": {"copy_rate": 0.61}, "vae_samples": {"copy_rate": 0.5}, "copy_floor": 0.48}
    (copy / "evaluation_own.json").write_text(json.dumps(evaluation))
    facts = card_facts(opened, None)
    assert facts["stages"]["vae"]["device"] == "cpu"
    assert facts["copies"] == ["vae_samples 0.50, gan_samples 0.61; held-out images 0.48 (vaegan evaluate)"]
    assert LICENCES["emoji"].endswith("under the SIL Open Font License 1.1")
