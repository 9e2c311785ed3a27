"""IDX files: round trips, damaged files, MNIST-style datasets, and downloads that never touch the network."""

from __future__ import annotations

import gzip
import hashlib
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from vaegan.config import DataConfig
from vaegan.data import load_splits
from vaegan.data.idx import FASHION_MNIST_ROOT, download_mnist, load_idx_dataset, read_idx, write_idx
from vaegan.errors import VaeganError


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path: Path, name: str, dtype: type) -> None:
    array = (np.random.default_rng(0).random((3, 5, 7)) * 100).astype(dtype)
    write_idx(tmp_path / name, array)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\0\0")
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "x.gz", array)
    (tmp_path / "x.gz").rename(tmp_path / "x-ubyte")  # gunzipped in name only
    assert np.array_equal(read_idx(tmp_path / "x-ubyte"), array)


def test_damaged_files_are_user_errors(tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_idx(good, np.zeros((4, 4), dtype=np.uint8))
    raw = good.read_bytes()
    cases = {
        "not an IDX file": b"\x01\x02" + raw[2:],
        "unknown IDX dtype code 0x07": raw[:2] + b"\x07" + raw[3:],
        "truncated": raw[:-3],
        "ends inside its header": raw[:6],
        "corrupt or truncated gzip": gzip.compress(raw)[:-10],
    }
    for message, data in cases.items():
        (tmp_path / "bad").write_bytes(data)
        with pytest.raises(VaeganError, match=message):
            read_idx(tmp_path / "bad")


def fake_mnist(root: Path, n_train: int = 20, n_test: int = 6) -> None:
    """Tiny MNIST-format files: image i is a constant 10 * label."""
    root.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.repeat(labels * 10, 28 * 28).reshape(n, 28, 28).astype(np.uint8)
        write_idx(root / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{stem}-labels-idx1-ubyte.gz", labels)


def test_idx_dataset_resizes_and_repeats_grey(tmp_path: Path) -> None:
    fake_mnist(tmp_path)
    data = load_idx_dataset("mnist", tmp_path, "test", 32, 3)
    assert data.images.shape == (6, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.labels is not None and data.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert data.label_names[3] == "3"
    # a constant image stays constant through bilinear resizing, and all three channels are the grey
    assert torch.equal(data.images[4], torch.full((3, 32, 32), 40, dtype=torch.uint8))
    grey = load_idx_dataset("mnist", tmp_path, "train", 28, 1)
    assert grey.images.shape == (20, 1, 28, 28) and int(grey.images[7].max()) == 70


def test_idx_dataset_names_missing_and_mismatched_files(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match=r"t10k-images-idx3-ubyte.gz is missing .*apt-get .*--data-root"):
        load_idx_dataset("fashion-mnist", tmp_path, "test", 28, 1)
    fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5, dtype=np.uint8))
    with pytest.raises(VaeganError, match="should hold 6 uint8 labels"):
        load_idx_dataset("mnist", tmp_path, "test", 28, 1)


def test_load_splits_uses_the_official_test_set(tmp_path: Path) -> None:
    fake_mnist(tmp_path, n_train=40, n_test=6)
    cfg = DataConfig(source="mnist", root=str(tmp_path), image_size=28, channels=1, val_fraction=0.25)
    splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 6)
    assert not set(splits.train.names) & set(splits.val.names)
    assert load_splits(cfg).val.names == splits.val.names  # seeded


@pytest.fixture()
def mirror(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A local folder standing in for an MNIST mirror, and the checksums of its files."""
    fake_mnist(tmp_path / "mirror")
    files = sorted((tmp_path / "mirror").iterdir())
    return tmp_path / "mirror", {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def test_download_tries_mirrors_in_turn(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> None:
    source, sums = mirror
    mirrors = [(tmp_path / "no-such-mirror").as_uri(), source.as_uri()]
    root = download_mnist(tmp_path / "data", mirrors=mirrors, checksums=sums)
    for name in sums:
        assert (root / name).read_bytes() == (source / name).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == sorted(sums)  # no temporary files left


def test_download_rejects_a_bad_checksum_atomically(tmp_path: Path, mirror: tuple[Path, dict[str, str]]) -> None:
    source, sums = mirror
    name = "train-images-idx3-ubyte.gz"
    with pytest.raises(VaeganError, match=f"could not download {name}.*checksum mismatch"):
        download_mnist(tmp_path / "data", mirrors=[source.as_uri()], checksums={name: "0" * 32})
    assert list((tmp_path / "data").iterdir()) == []  # neither the bad file nor a .part file


def test_offline_download_says_how_to_proceed(
    tmp_path: Path, mirror: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(VaeganError, match=r"offline, copy the four MNIST files .* --data-root"):
        download_mnist(tmp_path / "data")
    # files already in place with the right checksums are not fetched again, so offline is fine
    source, sums = mirror
    assert download_mnist(source, mirrors=["https://unreachable.invalid/"], checksums=sums) == source


@pytest.mark.skipif(not Path(FASHION_MNIST_ROOT).is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist() -> None:
    start = time.perf_counter()
    splits = load_splits(DataConfig(source="fashion-mnist", image_size=28, channels=1))
    print(f"Fashion-MNIST 28 px loaded in {time.perf_counter() - start:.2f} s")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (54000, 6000, 10000)
    assert splits.test.label_names[0] == "T-shirt/top" and len(splits.test.label_names) == 10
    assert splits.test.labels is not None
    assert torch.bincount(splits.test.labels).tolist() == [1000] * 10  # the official test set is balanced
    assert splits.train.images.shape[1:] == (1, 28, 28) and splits.train.images.float().mean() > 40
