import builtins
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from tiny import tiny_config, tiny_splits
from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.export import export_decoder, export_run
from vaegan.models.vae import Decoder
from vaegan.training.train_vae import train_vae


def test_onnx_decoder_matches_torch_for_any_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    decoder = Decoder(ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4)).eval()
    error = export_decoder(decoder, 4, tmp_path / "d.onnx")
    assert error <= 1e-4
    session = onnxruntime.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    z = torch.randn(7, 4)
    (got,) = session.run(None, {"z": z.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, decoder(z).numpy(), atol=1e-4)


def test_export_run_writes_the_vae_decoder_and_says_its_output_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vaegan.cli import main

    train_vae(tiny_config(epochs=1), tmp_path / "run", splits=tiny_splits(n=12))
    (result,) = export_run(tmp_path / "run")
    assert result.stage == "vae" and result.path == tmp_path / "run" / "decoder.onnx" and result.max_abs_error <= 1e-4
    assert result.value_range == (-1.0, 1.0)  # tanh: what a user must map to 0-255 themselves
    assert main(["export", str(tmp_path / "run")]) == 0
    assert "outputs images in [-1, 1]" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "in [-1, 1], or [0, 1] for a model trained with --recon bce" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(VaeganError, match="format"):
        export_run(tmp_path / "run", fmt="tflite")


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_onnxruntime(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            raise ImportError("no onnxruntime", name="onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    decoder = Decoder(ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4))
    with pytest.raises(VaeganError, match=r"pip install 'vaegan\[onnx\]'"):
        export_decoder(decoder, 4, tmp_path / "d.onnx")
