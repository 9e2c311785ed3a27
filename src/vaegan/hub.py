"""Hub-style weights: a trained run as a folder anyone can load (pretrained.py's format), and the Hub.

`save_pretrained` writes every stage of a run with its fitted prior and a model card (card.py);
`resolve` finds an export, a folder here or a Hugging Face repo downloaded into the Hub's cache;
`push_to_hub` uploads one. huggingface_hub is the optional extra `vaegan[hub]`, imported only here.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vaegan import latent
from vaegan.card import card_facts, render_card
from vaegan.data import DataSplits, load_splits
from vaegan.errors import VaeganError
from vaegan.flow_prior import FLOW_NAME
from vaegan.paths import check_writable
from vaegan.pictures import grid_image, load_models, with_row_labels
from vaegan.pretrained import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    facts_ok,
    is_export,
    read_config,
    safetensors_torch,
    write_export,
)
from vaegan.prior import PRIOR_NAME, fitted_prior, sample_latents
from vaegan.runs import Run, open_run

log = logging.getLogger(__name__)

# Every prior file fitted beside the VAE checkpoint, copied as it is: prior.py reads it from the export's
# folder as it reads it from a run's. A new prior kind adds its file's name here.
PRIOR_FILES = (FLOW_NAME, PRIOR_NAME)
SAMPLES_NAME = "samples.png"
CARD_NAME = "README.md"
SAMPLE_ROW = 8  # samples.png: this many per stage, seed 0
REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")  # OWNER/NAME


def save_pretrained(run: str | Path | Run, out: str | Path, *, repo_id: str | None = None) -> Path:
    """Write every stage of `run` into the folder `out` as a Hub-style export (pretrained.py) with its fitted
    prior, samples.png and a README.md model card whose examples name `repo_id`. The run's training images
    are read once when its prior has not been fitted yet. Returns `out`."""
    safetensors_torch()  # the missing extra, named before any work
    if repo_id is not None:
        check_repo_id(repo_id)
    opened = open_run(run)
    out = Path(out).expanduser()
    if out.exists() and not (is_export(out) or (out.is_dir() and not any(out.iterdir()))):
        raise VaeganError(f"{out} exists and is not a vaegan export; choose a new or empty folder for -o")
    check_writable(out, "-o", "choose another -o")
    checkpoints = [stage.checkpoint for stage in opened.stages.values()]  # a damaged file fails first
    source = opened.stages[opened.last].folder
    facts: Any = read_config(source).get("card") if is_export(source) else None  # an export's export keeps them
    if not facts_ok(facts):
        splits = run_data(opened)
        facts = card_facts(opened, splits)
        fitted_prior(opened, images=splits.train.images if splits is not None else None)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_export(staging, checkpoints, facts)
        beside_vae = opened.stage("vae").folder
        for name in PRIOR_FILES:
            if (beside_vae / name).is_file():
                shutil.copyfile(beside_vae / name, staging / name)
        written = open_run(staging)  # the folder opens as it will for whoever downloads it
        samples_picture(written).save(staging / SAMPLES_NAME)
        files = sorted(p.name for p in staging.iterdir()) + [CARD_NAME]
        card = render_card(facts, written.config, repo_id, files)
        (staging / CARD_NAME).write_text(card, encoding="utf-8")
        out.mkdir(exist_ok=True)
        for file in sorted(staging.iterdir()):
            os.replace(file, out / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def check_repo_id(repo_id: str) -> None:
    """A Hub repo id the card may name: OWNER/NAME, letters, digits, '.', '_' and '-' alone (no line break
    that would start the card's front matter or HTML over again)."""
    if not (isinstance(repo_id, str) and REPO_ID.fullmatch(repo_id)):
        raise VaeganError(f"repo id {repo_id!r} is not OWNER/NAME of letters, digits, '.', '_' and '-'")


def run_data(run: Run) -> DataSplits | None:
    """The run's data splits, or None (logged) when they cannot be loaded here: the card then says less."""
    try:
        return load_splits(run.config.data)
    except VaeganError as exc:
        log.warning("the model card leaves out the image count: %s", exc)
        return None


def samples_picture(run: Run) -> Image.Image:
    """One labelled row per stage, the pixels of `from_pretrained(DIR, stage=S).sample(SAMPLE_ROW, seed=0)`."""
    rows = []
    for stage in run.stages:
        z = sample_latents(run, stage, SAMPLE_ROW, torch.Generator().manual_seed(0))
        rows.append(latent.decode_batched(load_models(run, stage).decode, z))
    return with_row_labels(grid_image(torch.cat(rows), run.config.model.value_range, SAMPLE_ROW), list(run.stages))


def resolve(source: str | Path, revision: str | None = None) -> Path:
    """An export's folder: `source` itself when it exists here, else the Hub repo OWNER/NAME downloaded
    (or found in the local cache, which is all HF_HUB_OFFLINE=1 allows)."""
    if not str(source).strip():  # Path("") is the working directory: never what an empty name meant
        raise VaeganError(
            f"{str(source)!r} names no export; pass a folder written by save_pretrained, or a Hub repo OWNER/NAME"
        )
    path = Path(source).expanduser()
    if path.exists():
        if not is_export(path):
            raise VaeganError(
                f"{path} is not a vaegan export (no {WEIGHTS_NAME} and {CONFIG_NAME}); write one with 'vaegan export "
                "RUN --format hub -o DIR', or open a run folder with vaegan.load"
            )
        return path
    if not REPO_ID.fullmatch(str(source)):
        raise VaeganError(f"no folder at {source}, and it is no Hugging Face repo id (OWNER/NAME)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise VaeganError("loading from the Hub needs huggingface_hub: pip install 'vaegan[hub]'") from exc
    try:
        folder = Path(snapshot_download(str(source), revision=revision))
    except Exception as exc:  # offline, no such repo, no network: huggingface_hub raises a type for each
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VaeganError(
            f"no folder at {source}, and the Hugging Face Hub gave no model {source} ({reason}); check the name "
            "and your network (HF_HUB_OFFLINE=1 reads the local cache only)"
        ) from exc
    if not is_export(folder):
        raise VaeganError(f"the Hub repo {source} is not a vaegan export (no {WEIGHTS_NAME})")
    return folder


def push_to_hub(run: str | Path | Run, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Export `run` and upload it as the model repo `repo_id` (created when missing): a thin call into
    huggingface_hub, which reads your login (`hf auth login`) unless `token` is given. Returns the commit URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise VaeganError("pushing to the Hub needs huggingface_hub: pip install 'vaegan[hub]'") from exc
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(run, Path(tmp) / "export", repo_id=repo_id)
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="vaegan export")
    return str(getattr(commit, "commit_url", commit))
