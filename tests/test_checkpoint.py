import pickle
from pathlib import Path

import pytest
import torch

from tiny import tiny_config
from vaegan.checkpoint import load_checkpoint, save_checkpoint
from vaegan.config import VAERunConfig, from_dict, to_dict
from vaegan.errors import VaeganError
from vaegan.models.vae import VAE


def test_save_then_load_gives_equal_tensors_and_config(tmp_path: Path) -> None:
    cfg = tiny_config()
    model = VAE(cfg.model)
    save_checkpoint({"stage": "vae", "config": to_dict(cfg), "model": model.state_dict()}, tmp_path / "c.pt")
    payload = load_checkpoint(tmp_path / "c.pt")
    assert from_dict(VAERunConfig, payload["config"]) == cfg
    rebuilt = VAE(from_dict(VAERunConfig, payload["config"]).model)
    rebuilt.load_state_dict(payload["model"])
    for (name, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    save_checkpoint({"stage": "vae", "x": torch.ones(2)}, tmp_path / "c.pt")
    save_checkpoint({"stage": "vae", "x": torch.zeros(2)}, tmp_path / "c.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    assert torch.equal(load_checkpoint(tmp_path / "c.pt")["x"], torch.zeros(2))


def test_a_failed_write_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    save_checkpoint({"stage": "vae", "x": torch.ones(2)}, tmp_path / "c.pt")
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint({"stage": "vae", "bad": lambda: 0}, tmp_path / "c.pt")  # lambdas cannot be saved
    assert torch.equal(load_checkpoint(tmp_path / "c.pt")["x"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


class Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("pwned",))


def test_loading_never_unpickles_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with path.open("wb") as f:
        pickle.dump({"format_version": 1, "stage": "vae", "x": Evil()}, f, protocol=2)
    with pytest.raises(VaeganError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_missing_checkpoint_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="train-vae"):
        load_checkpoint(tmp_path)
