"""Every latent-space subcommand end to end on a tiny pipeline run, asserting on the files it writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tiny import tiny_gan, tiny_splits
from vaegan.cli import main
from vaegan.config import vae_run_config
from vaegan.pipeline import run_pipeline


def image_folder(root: Path) -> Path:
    """tiny_splits' coloured squares as PNGs, one subfolder per class, so the folder has labels."""
    data = tiny_splits(n=24).train
    for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
        folder = root / "pictures" / data.label_names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:06d}.png")
    return root / "pictures"


def tiny_pipeline(root: Path) -> Path:
    cfg = vae_run_config(
        data={"source": str(image_folder(root)), "image_size": 16, "channels": 3, "val_fraction": 0.25},
        model={"latent_dim": 4, "base_channels": 4},
        train={"epochs": 2, "batch_size": 4, "grid_size": 8, "device": "cpu", "precision": "fp32", "quality_every": 0},
    )
    gan = tiny_gan()
    return run_pipeline(cfg, gan, root / "run", progress=False).run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_pipeline(tmp_path_factory.mktemp("latent"))


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("stage", ["vae", "gan"])
def test_sample_decodes_with_either_stage(run: Path, tmp_path: Path, stage: str) -> None:
    out = tmp_path / f"{stage}.png"
    assert main(["sample", str(run), "--stage", stage, "-n", "4", "-o", str(out), "--temperature", "0.5"]) == 0
    assert size(out) == (2 * 18 + 2, 2 * 18 + 2)


def test_sample_from_the_fitted_prior_writes_the_grid_and_flow_prior_pt(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "fitted.png"
    assert main(["sample", str(run), "--stage", "vae", "--sampler", "fitted", "-n", "4", "-o", str(out)]) == 0
    assert size(out) == (2 * 18 + 2, 2 * 18 + 2) and (run / "vae" / "flow_prior.pt").is_file()
    plain, auto = tmp_path / "plain.png", tmp_path / "auto.png"
    assert main(["sample", str(run), "--stage", "vae", "--sampler", "prior", "-n", "4", "-o", str(plain)]) == 0
    assert out.read_bytes() != plain.read_bytes()
    assert main(["sample", str(run), "--stage", "vae", "-n", "4", "-o", str(auto)]) == 0
    assert auto.read_bytes() == out.read_bytes()  # a VAE's default sampler is its fitted prior


def test_sample_from_a_gan_checkpoint_differs_from_its_vae(run: Path, tmp_path: Path) -> None:
    assert main(["sample", str(run / "gan" / "checkpoint.pt"), "-n", "4", "-o", str(tmp_path / "g.png")]) == 0
    assert main(["sample", str(run / "vae"), "-n", "4", "-o", str(tmp_path / "v.png")]) == 0
    assert (tmp_path / "g.png").read_bytes() != (tmp_path / "v.png").read_bytes()


def test_pictures_go_into_out_dir_else_the_run_folder(run: Path, tmp_path: Path) -> None:
    assert main(["sample", str(run), "-n", "4"]) == 0
    assert (run / "samples_gan_fitted.png").is_file()  # no -o: the run folder, named after stage and sampler
    assert main(["sample", str(run / "vae" / "checkpoint.pt"), "-n", "4"]) == 0
    assert (run / "vae" / "samples_vae_fitted.png").is_file()  # a checkpoint: the folder that holds it
    assert main(["sample", str(run), "--stage", "vae", "-n", "4", "-o", str(tmp_path / "new" / "dir")]) == 0
    assert (tmp_path / "new" / "dir" / "samples_vae_fitted.png").is_file()
    assert main(["sample", str(run), "--sampler", "prior", "-n", "4", "-o", str(tmp_path / "new" / "dir")]) == 0
    assert (tmp_path / "new" / "dir" / "samples_gan_prior.png").is_file()  # beside the fitted one, not over it
    (tmp_path / "odd.png").mkdir()  # a folder is a folder, whatever its name
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "odd.png")]) == 0
    assert (tmp_path / "odd.png" / "samples_gan_fitted.png").is_file()
    picture = sorted((run.parent / "pictures").rglob("*.png"))[0]
    assert main(["reconstruct", str(run), "--images", str(picture), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "reconstructions_gan.png").is_file()
    assert main(["reconstruct", str(run), "--images", str(picture), "-o", str(tmp_path / "old.jpg")]) == 0
    assert (tmp_path / "old.jpg").is_file()  # the old spelling: an image file name is the file itself


def test_similar_interpolate_and_attribute(run: Path, tmp_path: Path) -> None:
    first = sorted((run.parent / "pictures").rglob("*.png"))[:2]
    assert (
        main(
            [
                "similar",
                str(run),
                "--images",
                *map(str, first),
                "--variants",
                "3",
                "--scale",
                "0.5",
                "--noise",
                "isotropic",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    width, _ = size(tmp_path / "similar_gan.png")  # the stage in the name: --stage defaults to the GAN
    assert width == 4 * (5 * 18 + 2)  # input, mean, 3 variants; 16 px images scaled x4

    assert main(["interpolate", str(run), "--stage", "vae", "--steps", "5", "-o", str(tmp_path)]) == 0
    # rows lerp and slerp, labelled in a 48 px strip; a 16 px header names the ends a and b
    assert size(tmp_path / "interpolation_vae.png") == (48 + 4 * (5 * 18 + 2), 16 + 4 * (2 * 18 + 2))
    with Image.open(tmp_path / "interpolation_vae.gif") as gif:
        assert gif.n_frames == 8  # 5 there, 3 back
    assert (
        main(
            [
                "interpolate",
                str(run),
                "--images",
                *map(str, first),
                "--method",
                "slerp",
            ]
        )
        == 0
    )
    # without -o: into the run folder; the two input images stand at the ends of the row
    assert size(run / "interpolation_gan.png") == (48 + 4 * (10 * 18 + 2), 16 + 4 * (1 * 18 + 2))

    out = tmp_path / "attribute_gan.png"
    assert (
        main(
            [
                "attribute",
                str(run),
                "--label",
                "a",
                "--versus",
                "b",
                "-n",
                "2",
                "--strengths",
                "-1",
                "0",
                "1",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert size(out) == (4 * (4 * 18 + 2), 4 * (2 * 18 + 2) + 16 + 20)  # 2 rows: input + 3 strengths; header; title


def test_attribute_from_a_celeba_style_file_and_from_two_folders(run: Path, tmp_path: Path) -> None:
    files = sorted((run.parent / "pictures").rglob("*.png"))
    table = tmp_path / "list_attr_celeba.txt"
    rows = [f"{p.name} {1 if i % 2 else -1}" for i, p in enumerate(files)]
    table.write_text(f"{len(rows)}\nOdd\n" + "\n".join(rows) + "\n")
    assert (
        main(
            [
                "attribute",
                str(run),
                "--attribute",
                "Odd",
                "--attribute-file",
                str(table),
                "--index",
                "0",
                "--split",
                "train",
                "-o",
                str(tmp_path / "t"),
            ]
        )
        == 0
    )
    assert (tmp_path / "t" / "attribute_gan.png").is_file()
    pictures = run.parent / "pictures"
    assert (
        main(
            [
                "attribute",
                str(run),
                "--folders",
                str(pictures / "a"),
                str(pictures / "b"),
                "-n",
                "1",
                "-o",
                str(tmp_path / "f"),
            ]
        )
        == 0
    )
    assert (tmp_path / "f" / "attribute_gan.png").is_file()


def test_latent_map_kl_curves(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["latent-map", str(run), "--stage", "vae", "--split", "train", "--grid", "3", "-o", str(tmp_path)]) == 0
    assert size(tmp_path / "latent_map_vae.png")[0] > 460
    assert main(["kl-per-dim", str(run), "-o", str(tmp_path)]) == 0
    assert "active units:" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # both stages share the encoder: a --stage would change nothing
        main(["kl-per-dim", str(run), "--stage", "gan"])
    assert main(["curves", str(run), "-o", str(tmp_path)]) == 0
    assert size(tmp_path / "curves.png")[1] > 2 * 250  # a row of VAE charts and a row of GAN charts


def test_export_and_report(run: Path, tmp_path: Path) -> None:
    assert main(["export", str(run), "--format", "onnx", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.glob("*.onnx")} == {"decoder.onnx", "generator.onnx"}
    assert main(["report", str(run), "-o", str(tmp_path / "r")]) == 0
    assert "Attribute sweep" in (tmp_path / "r" / "report.html").read_text()


def test_user_errors_are_one_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", str(run), "--attribute", "bald", "-o", str(tmp_path)]) == 2
    assert "unknown attribute 'bald'" in capsys.readouterr().err
    assert main(["sample", str(run / "vae"), "--stage", "gan", "-o", str(tmp_path / "x.png")]) == 2
    assert "train-gan" in capsys.readouterr().err
