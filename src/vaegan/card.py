"""The model card of a Hub-style export (hub.py): what a stranger needs to trust, see and load the model.

`card_facts(run)` gathers what the run records: its data (source, image count and size, the images'
licence), each stage's epochs, steps, training time and the device it ran on, every FID it has with the
protocol named (from `vaegan evaluate`'s JSON files, summary.txt, or the training log) and its copy rate.
The facts travel in the export's config.json (pretrained.facts_ok checks their form), so exporting an export
keeps them; `render_card` writes README.md with the YAML front matter Hugging Face model cards use, its
`license:` left for the user to fill in, every fact written as literal text (a folder named `<svg ...>`
stays text).
"""

from __future__ import annotations

import html
import json
import logging
import re
from itertools import takewhile
from pathlib import Path
from typing import Any

from vaegan.data import EMOJI_SOURCES, IDX_SOURCES, DataSplits
from vaegan.prior import logged_sampler
from vaegan.runs import Run

log = logging.getLogger(__name__)

EVALUATIONS = {  # `vaegan evaluate`'s files in a run folder -> the protocol their FIDs follow
    "evaluation_inception.json": "Inception features by docs/FID.md's protocol",
    "evaluation_own.json": "vaegan's own feature space (compare between runs on the same data only)",
}
ROWS = ("vae_samples", "vae_fitted_prior_samples", "gan_samples", "reference")  # as `vaegan evaluate` names them
# the licence of the images a run learned from, by source; a folder's are the user's own
LICENCES = {
    **dict.fromkeys(EMOJI_SOURCES, "Noto Color Emoji's glyphs (Google), under the SIL Open Font License 1.1"),
    "fashion-mnist": "Fashion-MNIST (Zalando Research), under the MIT License",
    "mnist": "MNIST (LeCun, Cortes and Burges): check its terms with its publishers before sharing",
}
FOLDER_LICENCE = "the user's images: their licence, and whether a model of them may be shared, is theirs to state"


def card_facts(run: Run, splits: DataSplits | None) -> dict[str, Any]:
    """What the card says, as JSON-ready values; `splits`: the run's data, None when it cannot be loaded."""
    from vaegan.pipeline import stage_seconds

    data = run.config.data
    known = data.source in IDX_SOURCES + EMOJI_SOURCES
    stages = {}
    for name, stage in run.stages.items():
        records, config = stage.metrics, stage.checkpoint.config
        device = config.train.device if name == "vae" else config.gan.device  # type: ignore[union-attr]
        ran_on = next((r["device"] for r in reversed(records) if isinstance(r.get("device"), str)), None)
        stages[name] = {
            "epochs": records[-1]["epoch"] if records else None,
            "steps": stage.checkpoint.loop.step,
            "seconds": round(stage_seconds(records), 1) if records else None,
            # what the epochs ran on (metrics.jsonl, since 0.2), else the configured one; auto names none
            "device": ran_on or (None if device == "auto" else device),
        }
    return {
        "data": {
            "source": data.source if known else f"a folder ({Path(data.source).name})",  # not the user's path
            "train_images": len(splits.train) if splits is not None else None,
            "held_out_images": len(splits.val) if splits is not None else None,
            "image_size": data.image_size,
            "channels": data.channels,
            "licence": LICENCES.get(data.source, FOLDER_LICENCE),
        },
        "stages": stages,
        "fid": fid_lines(run),
        "copies": copy_lines(run),
    }


def copy_lines(run: Run) -> list[str]:
    """The run's copy rate: `vaegan evaluate`'s (evaluation_own.json), else summary.txt's; none unmeasured."""
    folder = run.path if run.path.is_dir() else run.path.parent
    path = folder / "evaluation_own.json"
    try:
        report = json.loads(path.read_text()) if path.is_file() else {}
        rates = [f"{row} {report[row]['copy_rate']:.2f}" for row in ROWS[:3] if "copy_rate" in report.get(row, {})]
        if rates and isinstance(report.get("copy_floor"), float):
            return [f"{', '.join(rates)}; held-out images {report['copy_floor']:.2f} (vaegan evaluate)"]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        log.warning("%s: its copy rate is left out of the model card (%s)", path, exc)
    summary = folder / "summary.txt"
    text = summary.read_text(errors="replace").splitlines() if summary.is_file() else []
    return [line.strip() for line in text if line.strip().startswith("copy rate")][:1]


def fid_lines(run: Run) -> list[str]:
    """Every FID the run holds, each naming its protocol: evaluations, else summary.txt's, else the log's."""
    folder = run.path if run.path.is_dir() else run.path.parent
    lines = [line for name, protocol in EVALUATIONS.items() for line in evaluation_lines(folder / name, protocol)]
    summary = folder / "summary.txt"
    if not lines and summary.is_file():
        text = summary.read_text(errors="replace").splitlines()
        start = next((i for i, line in enumerate(text) if line.startswith("FID")), None)
        if start is not None:
            lines = [text[start], *takewhile(lambda line: line.startswith("  "), text[start + 1 :])]
    if not lines:
        for name, stage in run.stages.items():
            logged = [r for r in stage.metrics if "quality/fid" in r]
            if logged:
                lines.append(
                    f"{name.upper()} {logged[-1]['quality/fid']:.2f} at epoch {logged[-1]['epoch']} (its training log: "
                    f"z from {logged_sampler(run, name)}, vaegan's own feature space, against held-out images)"
                )
    return lines


def evaluation_lines(path: Path, protocol: str) -> list[str]:
    """One line per sample set of a `vaegan evaluate` JSON file; none for a file that is absent or damaged."""
    if not path.is_file():
        return []
    try:
        report = json.loads(path.read_text())
        inception = "inception" in path.name
        rows = report["inception"] if inception else {r: report[r] for r in ROWS if r in report}
        samplers = {**report.get("samplers", {}), "reference": "real training images (the floor)"}
        lines = []
        for row, values in rows.items():
            counts = values if inception else report["quality_samples"]
            drawn = samplers[row] if row == "reference" else f"z from {samplers[row]}"
            lines.append(
                f"{row}: FID {values['fid']:.2f} ({drawn}; {protocol}; "
                f"{counts['n_fake']} generated vs {counts['n_real']} real)"
            )
        return lines
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s: left out of the model card (%s)", path, exc)
        return []


def training_row(name: str, stage: dict[str, Any]) -> str:
    epochs = "-" if stage["epochs"] is None else stage["epochs"]
    seconds = "not recorded" if stage["seconds"] is None else f"{stage['seconds']:.0f} s"
    return f"| {name} | {epochs} | {stage['steps']:,} | {seconds} | {literal(stage['device'] or 'not recorded')} |"


def budget(stages: dict[str, Any]) -> str:
    """'VAE 1,200 optimiser steps in 4.0 min, GAN 600 in 3.5 min': what each stage trained."""
    parts = []
    for i, (name, stage) in enumerate(stages.items()):
        minutes = "" if stage["seconds"] is None else f" in {stage['seconds'] / 60:.1f} min"
        parts.append(f"{name.upper()} {stage['steps']:,}{' optimiser steps' if i == 0 else ''}{minutes}")
    return ", ".join(parts)


def literal(value: object) -> str:
    """`value` as literal Markdown text on one line: no HTML tag, link, emphasis or table cell it could open
    (a folder's name is the user's, and a card's facts may have been edited)."""
    text = html.escape(" ".join(str(value).split()), quote=False)  # & < > as entities
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def fenced(line: str) -> str:
    """A line for the card's ```text block: one line, and no backtick that could close the block."""
    return " ".join(line.splitlines()).replace("`", "'")


# Hugging Face reads the YAML front matter; `license:` stays empty until the user chooses one.
CARD = """---
license: # yours to choose: the licence of these weights (mind the licence of the images they learned from)
library_name: vaegan
tags:
- vaegan
- vae
- gan
- image-generation
---

# vaegan {stage_names}: {source}, {size}x{size}

A convolutional VAE with a {latent_dim}-dimensional latent space{gan}, trained with vaegan.
Every stage encodes with the VAE's encoder and decodes from the same latent space.

![samples](samples.png)

Each row: `vaegan.from_pretrained("{where}", stage=STAGE).sample(8, seed=0)`.

## Data

- source: {source}
- {count}
- {size}x{size} pixels, {channels} channel(s)
- licence of the images: {licence}

## Training

| stage | epochs | optimiser steps | time | device |
|---|---|---|---|---|
{rows}

## Quality

```text
{fids}
```

## Limitations

- It draws {size}x{size} images like its training images and nothing else: no prompt, no class or attribute
  to ask for, no other size; an image unlike them encodes and reconstructs poorly.
- Its training budget: {budget}.
- Its samples are made up: they depict no real person or thing, though they may resemble training images.
- Copies of training images: {copies}

## Use it

```python
import vaegan  # pip install 'vaegan[hub]'

model = vaegan.from_pretrained("{where}")  # the last stage; stage="vae" for the VAE
vaegan.to_pil(model.sample(16, seed=0)).save("samples.png")
```

Every vaegan tool takes the downloaded folder as it takes a run folder (`vaegan sample DIR`,
`vaegan explore DIR`); those that read the training images (the map, attribute directions) need the data
config.json names.

## Files

{files}
"""


def render_card(facts: dict[str, Any], config: Any, repo_id: str | None, files: list[str]) -> str:
    """README.md: YAML front matter, then data, training, quality, how to load it and the files."""
    data, stages = facts["data"], facts["stages"]
    count = (
        f"{data['train_images']:,} training images, {data['held_out_images']:,} held out"
        if data["train_images"] is not None
        else "image count not recorded"
    )
    copies = facts.get("copies") or [
        "not measured; `vaegan nearest RUN` counts the samples nearer a training image than half the held-out "
        "images are (a generator that copies scores near 1)"
    ]
    return CARD.format(
        stage_names=" and ".join(name.upper() for name in stages),
        source=literal(data["source"]),
        size=data["image_size"],
        channels=data["channels"],
        licence=literal(data.get("licence", "not recorded")),
        latent_dim=config.model.latent_dim,
        gan=" and a GAN whose generator started as the VAE's decoder" if "gan" in stages else "",
        where=repo_id or "OWNER/NAME",
        count=count,
        rows="\n".join(training_row(name, s) for name, s in stages.items()),
        fids="\n".join(map(fenced, facts["fid"])) if facts["fid"] else "No FID was measured for this run.",
        budget=literal(budget(stages)),
        copies=copies[0] if not facts.get("copies") else literal("; ".join(copies)),
        files="\n".join(f"- `{name}`" for name in files),
    )
