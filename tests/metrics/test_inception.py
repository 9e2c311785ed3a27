"""The pytorch-fid Inception path, with random weights of the right shapes in a tmp file (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vaegan.errors import VaeganError
from vaegan.metrics.inception import FIDInceptionV3, load_inception

# Spot checks written from pytorch-fid / torchvision's Inception3, independent of our module's code.
EXPECTED_SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.bn.running_var": (192,),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
}


def random_pytorch_fid_file(path: Path) -> None:
    """Random tensors under pytorch-fid's names, without num_batches_tracked like the 2015 TF port."""
    g = torch.Generator().manual_seed(0)
    state = {
        k: (torch.rand(v.shape, generator=g) + 0.5 if "running_var" in k else torch.randn(v.shape, generator=g) * 0.05)
        for k, v in FIDInceptionV3().state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    torch.save(state, path)


def test_layout_matches_pytorch_fid() -> None:
    state = FIDInceptionV3().state_dict()
    for key, shape in EXPECTED_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
    # torchvision's inception_v3 has 27,161,264 parameters; minus AuxLogits (3,326,696) and with a
    # 1008-way fc instead of 1000 (+16,392): the FID graph's count.
    assert params == 27_161_264 - 3_326_696 + 16_392


def test_random_weights_load_strictly_and_give_2048_features(tmp_path: Path) -> None:
    path = tmp_path / "pt_inception-2015-12-05-random.pth"
    random_pytorch_fid_file(path)
    net = load_inception(path)
    with torch.no_grad():
        feats = net.features(torch.rand(2, 1, 28, 28))  # grey, small: repeated to RGB and resized to 299
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()


def test_a_wrong_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="no Inception weights"):
        load_inception(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, bad)
    with pytest.raises(VaeganError, match="not the pytorch-fid Inception state dict"):
        load_inception(bad)
