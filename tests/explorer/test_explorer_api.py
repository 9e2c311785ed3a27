"""The explorer's API end to end on a tiny VAE + GAN run, over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from explorer_http import Answer, send
from PIL import Image

from vaegan import latent
from vaegan.attributes import from_labels
from vaegan.data import load_splits, to_uint8
from vaegan.data.folder import load_image_files
from vaegan.explorer.core import Explorer
from vaegan.explorer.server import ExplorerServer
from vaegan.pictures import load_models
from vaegan.prior import sample_latents
from vaegan.runs import load_generator, load_vae, open_run


def ok(answer: Answer) -> Answer:
    assert answer.status == 200, answer.body[:300]
    return answer


def data_png(url: str) -> torch.Tensor:
    with Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/png;base64,")))) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)


def test_info_names_stages_directions_and_the_most_active_dims(server: ExplorerServer, run: Path) -> None:
    info = ok(send(server.url, "/api/info")).json()
    models = load_models(run, "vae")
    val = load_splits(models.cfg.data).val
    mean, logvar = models.encode_images(val.images)
    kl = latent.kl_per_dim(mean, logvar)
    assert info["latent_dim"] == 4 and info["image_size"] == 16 and info["dataset_size"] == len(val) == 10
    assert info["stages"] == ["vae", "gan"] and info["stage"] == "gan"  # the last stage first, like the CLI
    assert info["active_dims"] == torch.argsort(kl, descending=True).tolist()
    assert info["kl"] == pytest.approx(kl.tolist(), abs=1e-3)
    assert [d["name"] for d in info["directions"]] == ["a vs the rest", "b vs the rest", "c vs the rest"]


def test_map_points_are_the_pca_of_the_posterior_means(server: ExplorerServer, explorer: Explorer, run: Path) -> None:
    answer = ok(send(server.url, "/api/map")).json()
    m = explorer.map
    assert len(answer["points"]) == len(m.data) == 40  # held-out plus the training images, under MAP_IMAGES
    means, _ = load_models(run, "vae").encode_images(m.data.images)
    points, centre, components = latent.pca_2d(means)
    assert torch.allclose(torch.tensor(answer["points"]), points, atol=1e-3)
    # the plane the page maps (x, y) through is the one `vaegan latent-map` draws its grid on
    x, y = 0.7, -0.4
    z = (
        torch.tensor(answer["centre"])
        + x * torch.tensor(answer["components"][0])
        + y * torch.tensor(answer["components"][1])
    )
    grid = latent.map_latents(centre, components, torch.tensor([x, x]), torch.tensor([y, y]), 1)[0]
    assert torch.allclose(z, grid, atol=1e-5)
    by_class = next(c for c in answer["colourings"] if c["name"] == "class")
    assert by_class["legend"] == ["a", "b", "c"] and by_class["values"] == m.data.labels.tolist()
    split = next(c for c in answer["colourings"] if c["name"] == "split")
    assert sum(split["values"]) == m.held_out == 10


def test_directions_are_the_attribute_vectors_of_the_cli(explorer: Explorer) -> None:
    groups = from_labels(explorer.map.data, "b")
    expected = latent.attribute_direction(explorer.map.means, groups.positive, groups.negative)
    found = next(d for d in explorer.directions if d.name == "b vs the rest")
    assert torch.allclose(found.vector, expected) and "vs the rest (" in found.description


@pytest.mark.parametrize("stage", ["vae", "gan"])
def test_decode_returns_exactly_what_the_model_draws(server: ExplorerServer, run: Path, stage: str) -> None:
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    answer = ok(send(server.url, "/api/decode", {"z": z[0].tolist(), "stage": stage}))
    assert answer.kind == "image/png"
    decode, cfg = (load_vae(run / "vae")[0].decode, load_vae(run)[1]) if stage == "vae" else load_generator(run / "gan")
    with torch.no_grad():
        expected = to_uint8(decode(z), cfg.model.value_range)[0]
    assert torch.equal(answer.png(), expected)


def test_the_two_stages_decode_differently(server: ExplorerServer) -> None:
    z = [0.5, -1.0, 1.5, 0.0]
    vae = ok(send(server.url, "/api/decode", {"z": z, "stage": "vae"})).png()
    gan = ok(send(server.url, "/api/decode", {"z": z, "stage": "gan"})).png()
    assert not torch.equal(vae, gan)


def test_encode_gives_the_images_posterior_mean(server: ExplorerServer, explorer: Explorer) -> None:
    images = explorer.gallery.images
    posterior = explorer.models["vae"].encode_images(images[5:6])
    answer = ok(send(server.url, "/api/encode", {"index": 5})).json()
    assert torch.allclose(torch.tensor(answer["z"]), posterior[0][0], atol=1e-6)
    assert torch.allclose(torch.tensor(answer["std"]), torch.exp(0.5 * posterior[1][0]), atol=1e-6)
    assert torch.equal(ok(send(server.url, "/api/dataset/5.png")).png(), images[5])


def test_an_uploaded_image_is_prepared_like_training_data(
    server: ExplorerServer, explorer: Explorer, tmp_path: Path
) -> None:
    """A 40x24 RGBA picture (transparent corner, not square) goes through the folder loader's path."""
    picture = Image.new("RGBA", (40, 24), (200, 30, 30, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 12, 12))
    picture.paste((20, 120, 220, 255), (14, 4, 30, 20))
    picture.save(tmp_path / "mine.png")
    answer = ok(send(server.url, "/api/encode-image", raw=(tmp_path / "mine.png").read_bytes())).json()
    prepared = load_image_files([tmp_path / "mine.png"], 16, 3)
    mean, logvar = explorer.models["vae"].encode_images(prepared)
    assert torch.equal(data_png(answer["input"]), prepared[0])
    assert torch.allclose(torch.tensor(answer["z"]), mean[0], atol=1e-6)
    assert not list(Path(explorer.models["vae"].cfg.data.source).rglob("mine*"))  # nothing stored


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        (b"GIF89a not really", 400, "not an image"),
        (b"", 400, "no file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 400, "not an image"),
    ],
)
def test_an_unreadable_upload_is_a_clear_400(server: ExplorerServer, payload: bytes, status: int, needle: str) -> None:
    answer = send(server.url, "/api/encode-image", raw=payload)
    assert answer.status == status and needle in answer.json()["error"]


def test_a_huge_upload_is_refused_before_it_is_read(server: ExplorerServer) -> None:
    bomb = io.BytesIO()
    Image.new("L", (9000, 9000)).save(bomb, format="PNG")  # 81 MP of zeros: a small file, a big image
    answer = send(server.url, "/api/encode-image", raw=bomb.getvalue())
    assert answer.status == 400 and "too many pixels" in answer.json()["error"]
    # the answer comes from the headers alone: 17 MiB announced, none of it sent
    answer = send(server.url, "/api/encode-image", raw=b"", headers={"Content-Length": str(17 * 1024 * 1024)})
    assert answer.status == 413 and "over 16384 kB" in answer.json()["error"]


@pytest.mark.parametrize(("stage", "sampler"), [("vae", "fitted"), ("gan", "normal")])
def test_random_draws_what_vaegan_sample_draws(server: ExplorerServer, run: Path, stage: str, sampler: str) -> None:
    """The VAE's z comes from the prior fitted to its training latents; this GAN was trained on N(0, I)."""
    answer = ok(send(server.url, "/api/random", {"seed": 7, "temperature": 0.5, "stage": stage})).json()
    expected = sample_latents(open_run(run), stage, 1, torch.Generator().manual_seed(7), 0.5)[0]
    assert answer["sampler"] == sampler and torch.allclose(torch.tensor(answer["z"]), expected)
    normal = latent.prior_latents(1, 4, torch.Generator().manual_seed(7), 0.5)[0]
    assert torch.allclose(torch.tensor(answer["z"]), normal) == (sampler == "normal")
    assert ok(send(server.url, "/api/info")).json()["samplers"] == {"vae": "fitted", "gan": "normal"}


def test_principal_directions_are_the_map_means_axes_scaled_by_their_spread(
    server: ExplorerServer, explorer: Explorer
) -> None:
    principal = ok(send(server.url, "/api/info")).json()["principal"]
    means = explorer.map.means
    axes = torch.tensor([p["axis"] for p in principal])  # (K, D)
    assert [p["name"] for p in principal] == [f"PC{k + 1}" for k in range(len(principal))] and len(principal) == 4
    assert torch.allclose(axes @ axes.T, torch.eye(len(axes)), atol=1e-5)  # orthonormal
    assert torch.allclose(axes[:2].T, explorer.map.components, atol=1e-6)  # PC1 and PC2 are the map's axes
    coordinates = (means - means.mean(0)) @ axes.T  # (N, K)
    assert [p["spread"] for p in principal] == pytest.approx(coordinates.std(0).tolist(), rel=1e-4)
    assert [p["share"] for p in principal] == pytest.approx(
        (coordinates.var(0) / means.var(0).sum()).tolist(), rel=1e-4
    )


def test_map_thumbnails_are_the_mapped_images(server: ExplorerServer, explorer: Explorer) -> None:
    last = len(explorer.map.data) - 1  # a training image: the held-out ones come first
    assert torch.equal(ok(send(server.url, f"/api/map/{last}.png")).png(), explorer.map.data.images[last])
    assert "from 0 to 39" in send(server.url, f"/api/map/{last + 1}.png").json()["error"]


def test_interpolation_runs_from_an_image_to_a_latent(server: ExplorerServer) -> None:
    b = [1.0, -1.0, 0.5, 2.0]
    body = {"a": 2, "b": b, "steps": 5, "method": "lerp", "stage": "vae"}
    answer = ok(send(server.url, "/api/interpolate", body)).json()
    mean = ok(send(server.url, "/api/encode", {"index": 2})).json()["z"]
    assert len(answer["z"]) == len(answer["images"]) == 5
    assert answer["z"][0] == pytest.approx(mean, abs=1e-6) and answer["z"][-1] == pytest.approx(b, abs=1e-6)
    decoded = ok(send(server.url, "/api/decode", {"z": answer["z"][0], "stage": "vae"})).png()
    assert torch.equal(data_png(answer["images"][0]), decoded)


def test_traversal_sweeps_one_dimension_and_keeps_the_rest(server: ExplorerServer) -> None:
    z = [0.3, -0.2, 1.1, 0.5]
    answer = ok(send(server.url, "/api/traverse", {"z": z, "dim": 2, "span": 2.0, "steps": 5, "stage": "gan"})).json()
    swept = torch.tensor(answer["z"])
    assert swept[:, 2].tolist() == pytest.approx([-2, -1, 0, 1, 2])
    assert torch.allclose(swept[:, [0, 1, 3]], torch.tensor([0.3, -0.2, 0.5]).expand(5, 3))
    decoded = ok(send(server.url, "/api/decode", {"z": answer["z"][4], "stage": "gan"})).png()
    assert torch.equal(data_png(answer["images"][4]), decoded)


def test_the_gallery_pages_past_its_first_page(server: ExplorerServer, explorer: Explorer) -> None:
    first = ok(send(server.url, "/api/gallery?offset=0&limit=4")).json()
    rest = ok(send(server.url, "/api/gallery?offset=8&limit=4")).json()
    assert first["total"] == rest["total"] == 10
    assert [i["index"] for i in first["items"]] == [0, 1, 2, 3] and [i["index"] for i in rest["items"]] == [8, 9]
    assert rest["items"][1]["name"] == explorer.gallery.names[9] and rest["items"][1]["name"].endswith(".png")


def test_page_and_static_files_are_served(server: ExplorerServer) -> None:
    page = ok(send(server.url, "/"))
    assert page.kind.startswith("text/html") and b"<title>vaegan explorer</title>" in page.body
    for name, kind in [("app.js", "javascript"), ("map.js", "javascript"), ("style.css", "text/css")]:
        answer = ok(send(server.url, f"/static/{name}"))
        assert kind in answer.kind and len(answer.body) > 100
        assert f'"static/{name}"'.encode() in page.body  # the page links what is served, relative for the export
    assert b"http" not in page.body.replace(b"http-equiv", b"")  # no CDN: it must work offline
