from pathlib import Path

import pytest
import torch

from vaegan import attributes
from vaegan.data import ImageDataset
from vaegan.errors import VaeganError


def dataset() -> ImageDataset:
    images = torch.zeros(6, 1, 4, 4, dtype=torch.uint8)
    return ImageDataset(
        images=images,
        labels=torch.tensor([0, 0, 1, 1, 2, 2]),
        label_names=("a", "b", "c"),
        attributes={
            "smiling": torch.tensor([1, 1, 0, 0, 0, 1]).bool(),
            "frowning": torch.tensor([0, 0, 1, 1, 0, 0]).bool(),
        },
        names=tuple(f"dir/{i:06d}.jpg" for i in range(6)),
    )


def test_labels_give_class_versus_rest_or_versus_class() -> None:
    groups = attributes.from_labels(dataset(), "a")
    assert groups.positive.tolist() == [True, True, False, False, False, False]
    assert groups.negative.tolist() == [False, False, True, True, True, True]
    groups = attributes.from_labels(dataset(), "a", versus="2")
    assert groups.negative.tolist() == [False, False, False, False, True, True]
    with pytest.raises(VaeganError, match="its classes are a, b, c"):
        attributes.from_labels(dataset(), "zebra")


def test_attributes_versus_another_attribute_and_unknown_names() -> None:
    groups = attributes.from_attributes(dataset(), "smiling", "frowning")
    assert groups.description == "smiling vs frowning (3 vs 2 images)"
    with pytest.raises(VaeganError, match="attributes are: frowning, smiling"):
        attributes.from_attributes(dataset(), "bald")


def test_celeba_attribute_file_is_read_as_is_and_aligned_by_file_name(tmp_path: Path) -> None:
    table = tmp_path / "list_attr_celeba.txt"
    table.write_text("3\n5_o_Clock_Shadow Smiling\n000003.jpg -1  1\n000001.jpg  1 -1\n000002.jpg -1 -1\n")
    files, columns = attributes.read_attribute_table(table)
    assert files == ["000003.jpg", "000001.jpg", "000002.jpg"] and columns["Smiling"].tolist() == [
        True,
        False,
        False,
    ]
    aligned = attributes.align_table(dataset().names, files, columns)
    assert aligned["Smiling"].tolist() == [False, False, False, True, False, False]
    groups = attributes.from_attributes(dataset(), "Smiling", table=aligned)
    assert int(groups.positive.sum()) == 1 and int(groups.negative.sum()) == 5


def test_csv_attribute_file_and_bad_values(tmp_path: Path) -> None:
    table = tmp_path / "attrs.csv"
    table.write_text("filename,glasses\n000000.jpg,1\n000001.jpg,0\n")
    _, columns = attributes.read_attribute_table(table)
    assert columns["glasses"].tolist() == [True, False]
    table.write_text("filename,glasses\n000000.jpg,maybe\n")
    with pytest.raises(VaeganError, match="not 1/-1"):
        attributes.read_attribute_table(table)


def test_two_folders_and_default_choice() -> None:
    groups = attributes.from_folders(
        torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.ones(3, 1, 4, 4, dtype=torch.uint8)
    )
    assert groups.positive.tolist() == [True, True, False, False, False]
    plain = ImageDataset(
        images=torch.zeros(12, 1, 4, 4, dtype=torch.uint8),
        labels=torch.arange(12) % 2,
        label_names=("x", "y"),
    )
    assert attributes.default_groups(plain).description == "x vs the rest (6 vs 6 images)"
    assert attributes.default_groups(ImageDataset(images=plain.images)) is None
