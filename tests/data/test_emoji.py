"""Emoji: all the font has are drawn once, the ones it lacks are detected, attributes follow the names."""

from __future__ import annotations

import collections
import dataclasses
import time
from pathlib import Path

import pytest
import torch

import vaegan.data.emoji as emoji_module
from vaegan.config import DataConfig
from vaegan.data import ImageDataset, build_dataset
from vaegan.data.emoji import FONT_PATH, EmojiFont, font_path
from vaegan.data.emoji_attributes import GROUPS, attributes, group
from vaegan.errors import VaeganError

pytestmark = pytest.mark.skipif(not Path(FONT_PATH).is_file(), reason="needs fonts-noto-color-emoji")
SIZE = 32


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emoji-cache")


@pytest.fixture(scope="session")
def rendered(cache_dir: Path) -> tuple[ImageDataset, float]:
    """All emoji, rendered once per session into a fresh cache, and the seconds that took."""
    start = time.perf_counter()
    data = build_dataset(DataConfig(source="emoji", image_size=SIZE, cache_dir=str(cache_dir)))
    return data, time.perf_counter() - start


@pytest.fixture(scope="session")
def font() -> EmojiFont:
    return EmojiFont(FONT_PATH)


def index(data: ImageDataset, name: str) -> int:
    return data.names.index(name)


def test_counts_are_plausible_and_nothing_is_blank(rendered: tuple[ImageDataset, float]) -> None:
    data, seconds = rendered
    assert data.labels is not None
    groups = collections.Counter(data.label_names[i] for i in data.labels.tolist())
    print(f"rendered {len(data)} emoji in {seconds:.1f} s; per group {dict(groups)}")
    assert 3000 < len(data) < 4200  # Unicode 15.1 has 3,782 fully-qualified emoji
    assert data.images.shape == (len(data), 3, SIZE, SIZE) and data.images.dtype == torch.uint8
    assert len(set(data.names)) == len(data)
    assert set(groups) == set(GROUPS)
    assert 100 < groups["face"] < 200 and 240 < groups["flag"] < 300 and groups["person"] > 1500
    inked = (data.images.amin(dim=1) < 200).sum(dim=(1, 2))  # pixels clearly darker than the white ground
    assert int(inked.min()) >= 4, data.names[int(inked.argmin())]
    assert float(data.images[:, :, 0, 0].float().mean()) > 250  # corners are the white background


def test_sequences_the_font_has_render_as_one_glyph(font: EmojiFont) -> None:
    scientist = "\U0001f469\u200d\U0001f52c"  # 👩‍🔬: woman + ZWJ + microscope
    for text in (scientist, "\U0001f44d\U0001f3fd", "\U0001f1eb\U0001f1f7", "#\ufe0f\u20e3"):  # 👍🏽 🇫🇷 #️⃣
        cell = font.render(text)
        assert cell is not None and cell.size[0] == cell.size[1], repr(text)
    assert font.render(scientist) != font.render("\U0001f469")  # not just the woman


def test_missing_glyphs_are_detected(font: EmojiFont) -> None:
    assert font.render("\U0001f408\u200d\U0001f996") is None  # 🐈 + ZWJ + 🦖: two glyphs side by side
    assert font.render("\ue000") is None  # private use: .notdef
    assert font.render("\U0001f1f6\U0001f1f6") is None  # 🇶🇶 is no country: Noto's "unknown flag"
    assert font.render("A") is None  # not in the emoji font at all


def test_attributes_follow_the_names(rendered: tuple[ImageDataset, float]) -> None:
    data, _ = rendered

    def attrs(name: str) -> dict[str, bool]:
        return {k: bool(v[index(data, name)]) for k, v in data.attributes.items()}

    def grp(name: str) -> str:
        return data.label_names[int(data.labels[index(data, name)])]  # type: ignore[index]

    thumbs = attrs("thumbs_up_medium_skin_tone")  # 👍🏽
    assert {k for k, v in thumbs.items() if v} == {"skin_medium", "has_skin_tone"}
    assert grp("thumbs_up_medium_skin_tone") == "person"
    assert attrs("woman")["woman"] and not attrs("woman")["man"] and not attrs("woman")["has_skin_tone"]
    grin = attrs("grinning_face")  # 😀
    assert grin["face"] and grin["smiling"] and not grin["frowning"] and grp("grinning_face") == "face"
    cat = attrs("cat_face")  # 🐱
    assert cat["cat"] and cat["face"] and grp("cat_face") == "animal"
    assert attrs("crying_cat")["frowning"] and grp("crying_cat") == "face"
    assert attrs("person_frowning")["person"] and attrs("person_frowning")["frowning"]
    couple = attrs("kiss_woman_man_light_skin_tone_dark_skin_tone")
    assert couple["skin_light"] and couple["skin_dark"] and not couple["skin_medium"]
    assert couple["man"] and couple["woman"]
    assert grp("France") == "flag" and grp("red_heart") == "symbol" and grp("pizza") == "food"
    assert grp("rocket") == "object" and grp("woman_astronaut") == "person" and grp("polar_bear") == "animal"


def test_group_rule_on_sequences() -> None:
    assert group("\U0001f9d1\u200d\U0001f680") == "person"  # 🧑‍🚀 takes the group of 🧑
    assert group("\U0001f3f3\ufe0f\u200d\U0001f308") == "flag"  # 🏳️‍🌈
    assert group("\u2764\ufe0f\u200d\U0001f525") == "symbol"  # ❤️‍🔥
    assert attributes("\U0001f600", ":grinning_face:")["smiling"]


def test_second_call_hits_the_cache(
    rendered: tuple[ImageDataset, float], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = rendered

    def no_rendering(*args: object) -> None:
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(emoji_module, "render_all", no_rendering)
    start = time.perf_counter()
    again = build_dataset(DataConfig(source="emoji", image_size=SIZE, cache_dir=str(cache_dir)))
    assert time.perf_counter() - start < 3.0
    assert torch.equal(again.images, data.images) and again.names == data.names
    files = list((cache_dir / "emoji").iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"  # written atomically: no temporary file left behind
    saved = torch.load(files[0], weights_only=True)
    assert set(saved) == {"images", "emoji"}


def test_subsets_are_nested_and_disjoint(rendered: tuple[ImageDataset, float], cache_dir: Path) -> None:
    data, _ = rendered
    expected_group = {"emoji:people": "person", "emoji:faces": "face"}
    cfg = DataConfig(image_size=SIZE, cache_dir=str(cache_dir))
    subsets = {s: build_dataset(dataclasses.replace(cfg, source=s)) for s in expected_group}
    print({s: len(d) for s, d in subsets.items()})
    for source, sub in subsets.items():
        assert len(sub) > 50, source
        rows = torch.tensor([index(data, n) for n in sub.names])  # raises if a name is not in the full set
        assert torch.equal(sub.images, data.images[rows])
        assert sub.labels is not None
        assert {sub.label_names[i] for i in sub.labels.tolist()} == {expected_group[source]}
    assert not set(subsets["emoji:people"].names) & set(subsets["emoji:faces"].names)
    assert subsets["emoji:people"].attributes["has_skin_tone"].sum() > 1000  # skin-tone variants included


def test_font_path_errors_and_folder_override(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="apt-get install fonts-noto-color-emoji"):
        font_path(str(tmp_path / "missing.ttf"))
    (tmp_path / "NotoColorEmoji.ttf").symlink_to(FONT_PATH)
    assert font_path(str(tmp_path)) == tmp_path / "NotoColorEmoji.ttf"
    text_font = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
    if text_font.is_file():  # a real font without emoji: its .notdef box must not pass for 😀
        with pytest.raises(VaeganError, match="has no glyph for"):
            EmojiFont(text_font)
