"""The explorer's HTTP API end to end on a tiny VAE + GAN pipeline folder, over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tiny import tiny_config, tiny_splits
from vaegan import latent
from vaegan.cli import main
from vaegan.config import GANConfig, GANRunConfig
from vaegan.data import to_float, to_uint8
from vaegan.errors import VaeganError
from vaegan.explorer import Explorer, ExplorerServer, check_host, make_server, serve_in_thread
from vaegan.runs import load_generator, load_vae
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline-shaped run folder: run/vae and run/gan, one tiny epoch each."""
    root = tmp_path_factory.mktemp("explore")
    train_vae(tiny_config(epochs=1), root / "vae", splits=tiny_splits())
    gan = GANConfig(
        epochs=1, batch_size=4, grid_size=8, device="cpu", precision="fp32", diversity_samples=8, disc_channels=4
    )
    train_gan(
        GANRunConfig(vae_checkpoint=str(root / "vae" / "checkpoint.pt"), gan=gan), root / "gan", splits=tiny_splits()
    )
    return root


@pytest.fixture(scope="module")
def server(run: Path) -> Iterator[ExplorerServer]:
    explorer = Explorer.from_run(run, data=tiny_splits().val)  # the "tiny" source cannot be reloaded from disk
    srv = make_server(explorer, "127.0.0.1", 0)
    thread = serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def request(srv: ExplorerServer, path: str, body: Any = None, raw: bytes | None = None, **headers: str) -> tuple:
    """(status, content type, bytes) of one request; errors are answers too, not exceptions."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(srv.url.rstrip("/") + path, data=data, headers=headers)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def get_json(srv: ExplorerServer, path: str) -> Any:
    status, kind, payload = request(srv, path)
    assert status == 200 and kind == "application/json", payload
    return json.loads(payload)


def post_json(srv: ExplorerServer, path: str, body: Any) -> Any:
    status, kind, payload = request(srv, path, body)
    assert status == 200 and kind == "application/json", payload
    return json.loads(payload)


def png(payload: bytes) -> torch.Tensor:
    """PNG bytes -> uint8 (C, H, W)."""
    with Image.open(io.BytesIO(payload)) as im:
        assert im.format == "PNG"
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)


def test_info_names_stages_and_the_most_active_dims(server: ExplorerServer, run: Path) -> None:
    info = get_json(server, "/api/info")
    vae, cfg = load_vae(run / "vae")
    with torch.no_grad():
        posterior = vae.encode(to_float(tiny_splits().val.images, cfg.model.value_range))
    kl = latent.kl_per_dim(posterior.mean, posterior.logvar)
    assert info["latent_dim"] == 4 and info["image_size"] == 16 and info["dataset_size"] == 8
    assert info["stages"] == ["vae", "gan"] and info["stage"] == "gan"  # the last stage first, like the CLI
    assert info["active_dims"] == torch.argsort(kl, descending=True).tolist()
    assert info["kl"] == pytest.approx(kl.tolist(), abs=1e-3)


@pytest.mark.parametrize("stage", ["vae", "gan"])
def test_decode_returns_exactly_what_the_model_draws(server: ExplorerServer, run: Path, stage: str) -> None:
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(3))
    status, kind, payload = request(server, "/api/decode", {"z": z[0].tolist(), "stage": stage})
    assert status == 200 and kind == "image/png"
    if stage == "vae":
        vae, cfg = load_vae(run / "vae")
        decode = vae.decode
    else:
        decode, cfg = load_generator(run / "gan")
    with torch.no_grad():
        expected = to_uint8(decode(z), cfg.model.value_range)[0]
    assert torch.equal(png(payload), expected)


def test_the_two_stages_decode_differently(server: ExplorerServer) -> None:
    z = [0.5, -1.0, 1.5, 0.0]
    vae = request(server, "/api/decode", {"z": z, "stage": "vae"})[2]
    gan = request(server, "/api/decode", {"z": z, "stage": "gan"})[2]
    assert not torch.equal(png(vae), png(gan))


def test_encode_gives_the_images_posterior_mean(server: ExplorerServer, run: Path) -> None:
    vae, cfg = load_vae(run / "vae")
    images = tiny_splits().val.images
    with torch.no_grad():
        posterior = vae.encode(to_float(images[5:6], cfg.model.value_range))
    answer = post_json(server, "/api/encode", {"index": 5})
    assert torch.allclose(torch.tensor(answer["z"]), posterior.mean[0], atol=1e-6)
    assert torch.allclose(torch.tensor(answer["std"]), posterior.std[0], atol=1e-6)
    assert torch.equal(png(request(server, "/api/dataset/5.png")[2]), images[5])


def test_random_is_the_seeded_prior_sample(server: ExplorerServer) -> None:
    answer = post_json(server, "/api/random", {"seed": 7, "temperature": 0.5})
    expected = latent.prior_latents(1, 4, torch.Generator().manual_seed(7), 0.5)[0]
    assert torch.allclose(torch.tensor(answer["z"]), expected)
    assert post_json(server, "/api/random", {"seed": 7, "temperature": 0.5}) == answer


def test_interpolation_runs_from_an_image_to_a_latent(server: ExplorerServer) -> None:
    b = [1.0, -1.0, 0.5, 2.0]
    answer = post_json(server, "/api/interpolate", {"a": 2, "b": b, "steps": 5, "method": "lerp", "stage": "vae"})
    mean = post_json(server, "/api/encode", {"index": 2})["z"]
    assert len(answer["z"]) == len(answer["images"]) == 5
    assert answer["z"][0] == pytest.approx(mean, abs=1e-6) and answer["z"][-1] == pytest.approx(b, abs=1e-6)
    first = answer["images"][0].removeprefix("data:image/png;base64,")
    decoded = request(server, "/api/decode", {"z": answer["z"][0], "stage": "vae"})[2]
    assert torch.equal(png(base64.b64decode(first)), png(decoded))


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/api/decode", {"z": [0.0, 1.0]}, "list of 4 numbers, got 2"),
        ("/api/decode", {"z": [0, 0, 0, "x"]}, "finite numbers"),
        ("/api/decode", {"z": [0, 0, 0, True]}, "finite numbers"),
        ("/api/decode", {"z": "0000"}, "list of 4 numbers"),
        ("/api/decode", {}, "list of 4 numbers"),
        ("/api/decode", {"z": [0, 0, 0, 0], "stage": "diffusion"}, "unknown stage"),
        ("/api/decode", [0, 0, 0, 0], "JSON object"),
        ("/api/encode", {"index": 8}, "from 0 to 7"),
        ("/api/encode", {"index": -1}, "from 0 to 7"),
        ("/api/encode", {"index": "3"}, "from 0 to 7"),
        ("/api/random", {"temperature": -1}, "temperature"),
        ("/api/interpolate", {"a": 0, "b": 1, "steps": 1}, "steps"),
        ("/api/interpolate", {"a": 0, "b": 1, "method": "cubic"}, "method"),
        ("/api/interpolate", {"a": 0, "b": [1.0]}, "b must be"),
        ("/api/dataset/99.png", None, "from 0 to 7"),
        ("/api/dataset/x.png", None, "whole number"),
    ],
)
def test_bad_input_is_a_400_with_a_message(server: ExplorerServer, path: str, body: Any, needle: str) -> None:
    status, kind, payload = request(server, path, body)
    assert (status, kind) == (400, "application/json")
    assert needle in json.loads(payload)["error"]


@pytest.mark.parametrize("raw", [b"NaN", b'{"z": [0, 0, 0, Infinity]}', b"{not json", b""])
def test_malformed_bodies_are_400s(server: ExplorerServer, raw: bytes) -> None:
    status, _, payload = request(server, "/api/decode", raw=raw)
    assert status == 400 and json.loads(payload)["error"]


def test_a_bug_is_a_500_without_the_traceback(server: ExplorerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(body: Any) -> bytes:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.explorer, "decode_png", broken)
    status, _, payload = request(server, "/api/decode", {"z": [0, 0, 0, 0]})
    assert status == 500 and b"secret" not in payload and b"Traceback" not in payload


def test_page_and_static_files_are_served(server: ExplorerServer) -> None:
    status, kind, page = request(server, "/")
    assert status == 200 and kind.startswith("text/html") and b"<title>vaegan explorer</title>" in page
    for name, kind_prefix in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        status, kind, payload = request(server, f"/static/{name}")
        assert status == 200 and kind == kind_prefix and len(payload) > 100
        assert f"/static/{name}".encode() in page  # the page links what is served
    assert b"http" not in page.replace(b"http-equiv", b"")  # no CDN: it must work offline
    for missing in ["/static/../app.py", "/static/app.py", "/static/", "/index.html", "/api/nothing"]:
        status, kind, _ = request(server, missing)
        assert (status, kind) == (404, "application/json"), missing


def test_requests_for_another_host_name_are_refused(server: ExplorerServer) -> None:
    """DNS rebinding: a foreign page resolving its own name to 127.0.0.1 sends that name as Host."""
    assert request(server, "/api/info", Host="attacker.example:8765")[0] == 403
    assert request(server, "/api/info", Host=f"localhost:{server.server_address[1]}")[0] == 200


def test_non_loopback_hosts_need_allow_remote(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ["127.0.0.1", "localhost", "::1", "127.0.0.2"]:
        check_host(host, allow_remote=False)
    for host in ["0.0.0.0", "192.168.1.5", "example.com"]:
        with pytest.raises(VaeganError, match="--allow-remote"):
            check_host(host, allow_remote=False)
        check_host(host, allow_remote=True)
    assert main(["explore", str(run), "--host", "0.0.0.0", "--no-browser"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_a_missing_stage_is_a_user_error(run: Path) -> None:
    with pytest.raises(VaeganError, match="no gan stage"):
        Explorer.from_run(run / "vae", "gan", data=tiny_splits().val)


def test_shutdown_stops_serving_and_frees_the_port(server: ExplorerServer) -> None:
    srv = make_server(server.explorer, "127.0.0.1", 0)
    thread = serve_in_thread(srv)
    assert request(srv, "/api/info")[0] == 200
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(srv.url + "api/info", timeout=2)
    again = make_server(server.explorer, "127.0.0.1", srv.server_address[1])  # the port is free again
    again.server_close()
