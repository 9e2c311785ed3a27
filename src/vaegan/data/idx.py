"""IDX files (the MNIST and Fashion-MNIST format): read, write, fetch, and turn into an `ImageDataset`.

Format (http://yann.lecun.com/exdb/mnist/): two zero bytes, a dtype code, the number of dimensions, one
big-endian uint32 per dimension, then the values big-endian in C order. Files may be gzipped; we detect
that from the gzip magic bytes, never from the file name, because renamed files are common.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vaegan.data.images import ImageDataset
from vaegan.errors import VaeganError

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist installs it
CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "mnist": tuple(str(d) for d in range(10)),
}
_INSTALL_HINTS = {
    "fashion-mnist": "install it with `apt-get install dataset-fashion-mnist`",
    "mnist": "fetch it with vaegan.data.idx.download_mnist(FOLDER)",
}

# Two mirrors of the original files, with the checksums torchvision and TensorFlow also pin.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, gzipped or raw, in native byte order."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise VaeganError(f"{path} is a corrupt or truncated gzip file ({exc}); fetch it again") from exc
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise VaeganError(
            f"{path} is not an IDX file: it starts with {raw[:4]!r}, not two zero bytes; "
            "point --data-root at the original MNIST-format files such as train-images-idx3-ubyte.gz"
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise VaeganError(f"{path} has unknown IDX dtype code 0x{code:02x}; fetch the file again")
    if ndim == 0:
        raise VaeganError(f"{path} declares zero dimensions; the file is damaged, download it again")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise VaeganError(f"{path} ends inside its header; the file is truncated, download it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if expected != len(raw):
        raise VaeganError(
            f"{path} holds {len(raw)} bytes but its header says {shape} values ({expected} bytes); "
            "the file is truncated or damaged, download it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as IDX, gzipped when `path` ends in .gz."""
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(_DTYPES[code]).tobytes()
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)


def _find(root: Path, stem: str, dataset: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise VaeganError(
        f"{dataset} file {stem}.gz is missing from {root}; {_INSTALL_HINTS[dataset]}, "
        f"or place the four {dataset} files in a folder and pass --data-root FOLDER"
    )


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 1, h, w) uint8 -> (N, 1, size, size) uint8, bilinear, in chunks so memory stays bounded."""
    out = torch.empty((images.shape[0], 1, size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], 4096):
        chunk = images[start : start + 4096].float()
        # antialias only matters when shrinking; it blurs like a box filter instead of dropping pixels
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=size < images.shape[-1])
        out[start : start + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def default_root(dataset: str, cache_dir: str | None) -> Path:
    """Fashion-MNIST where the Debian package puts it; MNIST where `download_mnist` is pointed by default."""
    if dataset == "fashion-mnist":
        return Path(FASHION_MNIST_ROOT)
    return Path(cache_dir or "~/.cache/vaegan").expanduser() / "mnist"


def load_idx_dataset(dataset: str, root: str | Path, split: str, image_size: int, channels: int) -> ImageDataset:
    """The official `split` ("train" or "test") of `dataset` ("mnist" or "fashion-mnist") in folder `root`."""
    folder = Path(root).expanduser()
    image_stem, label_stem = SPLIT_FILES[split]
    image_path, label_path = _find(folder, image_stem, dataset), _find(folder, label_stem, dataset)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise VaeganError(f"{image_path} should hold (N, H, W) uint8, not {images.dtype}{images.shape}")
    if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
        raise VaeganError(
            f"{label_path} should hold {images.shape[0]} uint8 labels to match {image_path.name}, "
            f"got {labels.dtype} {labels.shape}; the two files come from different downloads"
        )
    names = CLASS_NAMES[dataset]
    if labels.size and int(labels.max()) >= len(names):
        raise VaeganError(f"{label_path} has label {int(labels.max())}; {dataset} has {len(names)} classes")
    tensor = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
    if tensor.shape[-2:] != (image_size, image_size):
        tensor = _resize(tensor, image_size)
    if channels == 3:
        tensor = tensor.expand(-1, 3, -1, -1)  # a view: grey repeated costs no memory until batched
    return ImageDataset(
        images=tensor,
        labels=torch.from_numpy(labels.astype(np.int64)),
        label_names=names,
        names=tuple(f"{split}/{i}" for i in range(len(labels))),
    )


def _fetch(url: str, target: Path, md5: str) -> None:
    """Download `url` to `target` if its MD5 matches; a partial or bad download never lands at `target`."""
    digest = hashlib.md5()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while block := response.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch: MD5 {digest.hexdigest()}, expected {md5}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_mnist(
    root: str | Path, mirrors: Sequence[str] = MNIST_MIRRORS, checksums: Mapping[str, str] = MNIST_MD5
) -> Path:
    """Fetch the four MNIST files into `root`, trying each mirror in turn; keeps valid files already there."""
    folder = Path(root).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in checksums.items():
        target = folder / name
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == md5:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _fetch(url, target, md5)
                logger.info("downloaded %s", url)
                break
            except (OSError, ValueError, urllib.error.URLError) as exc:
                failures.append(f"{url}: {exc}")
        else:
            raise VaeganError(
                f"could not download {name} ({'; '.join(failures)}); if this machine is offline, copy the "
                f"four MNIST files ({', '.join(checksums)}) into a folder and pass --data-root FOLDER"
            )
    return folder
