"""Where an attribute's two groups of images come from: class labels, a dataset's boolean attributes,
a per-file attribute table (CelebA's list_attr_celeba.txt as is, or a CSV) or two folders.

Each source becomes the same `AttributeGroups` (images plus two masks), which vaegan.latent turns into
a direction: mean posterior mean of the positive images minus that of the negative ones.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch

from vaegan.data import ImageDataset
from vaegan.errors import VaeganError, not_a_file


@dataclass(frozen=True)
class AttributeGroups:
    images: torch.Tensor  # (N, C, H, W) uint8
    positive: torch.Tensor  # (N,) bool
    negative: torch.Tensor  # (N,) bool, disjoint from positive
    description: str  # e.g. "skin_dark vs skin_light (180 vs 175 images)"


@dataclass(frozen=True)
class Spelling:
    """How the caller names the ways to choose a direction, so an error names what its user types: the
    CLI's flags, or the Python API's parameters."""

    attribute: str
    versus: str
    others: str  # the ways besides labels and the dataset's attributes


CLI = Spelling("--attribute", "--versus", "--attribute-file (a table of attributes per file) or --folders WITH WITHOUT")
PYTHON = Spelling(
    "attribute=",
    "versus=",
    "two sets of images: model.encode(with_it).mean(0) - model.encode(without_it).mean(0)",
)


def _groups(
    images: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    pos: str,
    neg: str,
    spelling: Spelling = CLI,
) -> AttributeGroups:
    negative = negative & ~positive
    n_pos, n_neg = int(positive.sum()), int(negative.sum())
    if n_pos == 0 or n_neg == 0:
        raise VaeganError(
            f"'{pos}' has {n_pos} images and '{neg}' has {n_neg}; a direction needs images in both "
            f"groups, so pick another attribute or {spelling.versus}"
        )
    return AttributeGroups(images, positive, negative, f"{pos} vs {neg} ({n_pos} vs {n_neg} images)")


def _label_index(data: ImageDataset, label: str) -> int:
    if label in data.label_names:
        return data.label_names.index(label)
    if label.isdigit() and data.labels is not None and int(label) <= int(data.labels.max()):
        return int(label)
    raise VaeganError(f"no class {label!r} in this dataset; its classes are {', '.join(data.label_names) or 'unnamed'}")


def from_labels(data: ImageDataset, label: str, versus: str | None = None, spelling: Spelling = CLI) -> AttributeGroups:
    """Class `label` (a name or an index) against class `versus`, or against every other class."""
    if data.labels is None:
        raise VaeganError(
            "this dataset has no class labels (a folder has them when its images sit in one subfolder per "
            f"class); use {spelling.attribute} or {spelling.others}"
        )
    a = _label_index(data, label)
    positive = data.labels == a
    if versus is None:
        return _groups(data.images, positive, ~positive, label, "the rest", spelling)
    return _groups(data.images, positive, data.labels == _label_index(data, versus), label, versus, spelling)


def from_attributes(
    data: ImageDataset,
    name: str,
    versus: str | None = None,
    table: dict[str, torch.Tensor] | None = None,
    spelling: Spelling = CLI,
) -> AttributeGroups:
    """Boolean attribute `name` against attribute `versus`, or against images without `name`.

    Looks in `table` (from read_attribute_table, aligned to the dataset) first, then in data.attributes.
    """
    columns = {**data.attributes, **(table or {})}
    for wanted in (name, versus):
        if wanted is not None and wanted not in columns:
            if not columns:
                raise VaeganError(f"unknown attribute {wanted!r}: this dataset has none; use {spelling.others}")
            known = ", ".join(sorted(columns))
            raise VaeganError(f"unknown attribute {wanted!r}; this dataset's attributes are: {known}")
    positive = columns[name]
    negative = ~positive if versus is None else columns[versus]
    return _groups(data.images, positive, negative, name, versus or f"not {name}", spelling)


def from_folders(
    positive: torch.Tensor, negative: torch.Tensor, pos: str = "first folder", neg: str = "second folder"
) -> AttributeGroups:
    """All images of one folder against all of another, each uint8 (N, C, H, W)."""
    if positive.shape == negative.shape and torch.equal(positive, negative):
        raise VaeganError(
            f"{pos} and {neg} hold the same images, so the direction between them is zero; pass a folder of images "
            "with the attribute, then one without"
        )
    images = torch.cat([positive, negative])
    mask = torch.arange(len(images)) < len(positive)
    return _groups(images, mask, ~mask, pos, neg)


def _truth(value: str, where: str) -> bool:
    value = value.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("-1", "0", "false", "no"):
        return False
    raise VaeganError(f"{where}: attribute value {value!r} is not 1/-1, 1/0 or true/false; fix the file")


def read_attribute_table(path: str | Path) -> tuple[list[str], dict[str, torch.Tensor]]:
    """File names and name -> (N,) bool columns from an attribute table.

    Two layouts: CelebA's list_attr_celeba.txt (a count line, a line of attribute names, then
    `filename v1 v2 ...` with 1/-1, space separated), or a CSV whose header is `filename,attr1,...`.
    """
    path = Path(path)
    if not path.is_file():
        raise VaeganError(
            f"attribute file {path} {not_a_file(path, 'a table')}; pass CelebA's list_attr_celeba.txt or a CSV"
        )
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise VaeganError(f"attribute file {path} is not text; pass CelebA's list_attr_celeba.txt or a CSV") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].strip().isdigit():  # CelebA: the first line is the image count
        header, rows = lines[1].split(), [line.split() for line in lines[2:]]
    else:
        parsed = list(csv.reader(lines))
        if not parsed:
            raise VaeganError(f"attribute file {path} is empty")
        header, rows = [h.strip() for h in parsed[0][1:]], parsed[1:]
    files, values = [], []
    for i, row in enumerate(rows):
        if len(row) != len(header) + 1:
            raise VaeganError(f"{path}, row {i + 1}: {len(row) - 1} values for {len(header)} attributes; fix the file")
        files.append(row[0].strip())
        values.append([_truth(v, f"{path}, row {i + 1}") for v in row[1:]])
    table = torch.tensor(values, dtype=torch.bool).reshape(len(rows), len(header))
    return files, {name: table[:, j] for j, name in enumerate(header)}


def align_table(names: tuple[str, ...], files: list[str], table: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The table's rows in the dataset's order, matched by file name; images missing from it get False."""
    if not names:
        raise VaeganError("this dataset has no file names to match an attribute file against; use an image folder")
    row = {PurePosixPath(f).name: i for i, f in enumerate(files)}
    index = [row.get(PurePosixPath(n).name, -1) for n in names]
    if all(i < 0 for i in index):
        raise VaeganError(
            f"no file in the attribute table matches an image of the dataset (e.g. {names[0]!r}); "
            "the table's first column must hold the image file names"
        )
    where = torch.tensor(index)
    return {k: torch.where(where >= 0, v[where.clamp_min(0)], False) for k, v in table.items()}


# The report's choice when nobody names an attribute: pairs that make a visible change, best first.
PREFERRED_PAIRS = (("skin_dark", "skin_light"), ("smiling", "frowning"), ("woman", "man"))
MIN_GROUP = 5  # images per group below which a mean latent is mostly noise


def default_groups(data: ImageDataset) -> AttributeGroups | None:
    """A sensible direction for a dataset: a preferred attribute pair, any balanced attribute, or the first
    class against the rest; None when the data has neither attributes nor labels."""
    counts = {k: int(v.sum()) for k, v in data.attributes.items()}
    for pos, neg in PREFERRED_PAIRS:
        if min(counts.get(pos, 0), counts.get(neg, 0)) >= MIN_GROUP:
            return from_attributes(data, pos, neg)
    for name, n in counts.items():
        if MIN_GROUP <= n <= len(data) - MIN_GROUP:
            return from_attributes(data, name)
    if data.labels is not None and len(data.labels.unique()) > 1:
        first = int(data.labels.min())
        name = data.label_names[first] if first < len(data.label_names) else str(first)
        return from_labels(data, name)
    return None
