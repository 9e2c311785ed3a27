"""What an emoji is, from its CLDR English name and its codepoints: a coarse group and boolean attributes.

The `emoji` package carries names but not Unicode's groups, so `group()` rebuilds a coarse version of
them from the emoji's first codepoint. Unicode groups (emoji-test.txt) map onto ours like this:
  face   Smileys & Emotion faces, including cat faces, monkey faces and costume faces (ghost, robot, poo)
  person People & Body: people, roles, activities, families, hands and body parts
  animal Animals & Nature: animals and plants
  food   Food & Drink, including dishware and the marine animals Unicode files under food (crab, shrimp)
  flag   Flags: country, subdivision and the other flags
  object Travel & Places, Activities and Objects
  symbol Symbols, plus Smileys & Emotion's hearts and comic marks (hundred points, collision, zzz)
Sequences (skin tones, ZWJ families and professions, keycaps) take the group of their first codepoint,
so 🧑‍🚀 is a person and 🐻‍❄️ an animal. Codepoints are looked up first in `_EXCEPTIONS`, then in
`_RANGES` (first match wins); anything else below U+1F000 is a symbol and anything above an object.
"""

from __future__ import annotations

GROUPS = ("face", "person", "animal", "food", "flag", "object", "symbol")
SKIN_TONES = ("light", "medium-light", "medium", "medium-dark", "dark")

# Whole-word keywords in the name; documented here because they are the definition of each attribute.
MAN_WORDS = frozenset({"man", "men", "boy"})
WOMAN_WORDS = frozenset({"woman", "women", "girl"})
PERSON_WORDS = frozenset({"person", "people"})
CAT_WORDS = frozenset({"cat"})
SMILING_WORDS = frozenset({"smiling", "smile", "grinning", "beaming", "laughing", "joy"})
FROWNING_WORDS = frozenset({"frowning", "sad", "crying", "worried", "disappointed", "anguished", "pensive", "weary"})

_EXCEPTIONS = {
    # flags outside the regional-indicator block
    0x1F38C: "flag",
    0x1F3C1: "flag",
    0x1F3F3: "flag",
    0x1F3F4: "flag",
    0x1F6A9: "flag",
    # faces and hands among the Miscellaneous Symbols
    0x2620: "face",
    0x2639: "face",
    0x263A: "face",
    0x261D: "person",
    0x26F7: "person",
    0x26F9: "person",
    0x270A: "person",
    0x270B: "person",
    0x270C: "person",
    0x270D: "person",
    0x2615: "food",
    0x2618: "animal",
    # weather, tools, sports and games below U+1F000 are Travel & Places, Objects or Activities
    **dict.fromkeys(
        (
            0x231A,
            0x231B,
            0x2328,
            0x23F0,
            0x23F1,
            0x23F2,
            0x23F3,
            0x2600,
            0x2601,
            0x2602,
            0x2603,
            0x2604,
            0x260E,
            0x2614,
            0x2660,
            0x2663,
            0x2665,
            0x2666,
            0x2668,
            0x265F,
            0x2692,
            0x2693,
            0x2694,
            0x2696,
            0x2697,
            0x2699,
            0x26A1,
            0x26B0,
            0x26B1,
            0x26BD,
            0x26BE,
            0x26C4,
            0x26C5,
            0x26C8,
            0x26CF,
            0x26D1,
            0x26D3,
            0x26E9,
            0x26EA,
            0x26F0,
            0x26F1,
            0x26F2,
            0x26F3,
            0x26F4,
            0x26F5,
            0x26F8,
            0x26FA,
            0x26FD,
            0x2702,
            0x2708,
            0x2709,
            0x270F,
            0x2712,
            0x2728,
            0x2744,
            0x2B50,
            0x1F004,
            0x1F0CF,
        ),
        "object",
    ),
    # symbols inside the pictograph blocks
    **dict.fromkeys(
        (
            0x1F3A6,
            0x1F3E7,
            0x1F48B,
            0x1F48C,
            0x1F4A2,
            0x1F4A4,
            0x1F4A5,
            0x1F4A6,
            0x1F4A8,
            0x1F4AB,
            0x1F4AC,
            0x1F4AD,
            0x1F4AF,
            0x1F4B1,
            0x1F4B2,
            0x1F4DB,
            0x1F4F3,
            0x1F4F4,
            0x1F4F5,
            0x1F4F6,
            0x1F518,
            0x1F549,
            0x1F54E,
            0x1F573,
            0x1F5A4,
            0x1F5E8,
            0x1F5EF,
            0x1F6AB,
            0x1F6B3,
            0x1F6B7,
            0x1F6B8,
            0x1F6BE,
            0x1F6D0,
            0x1F6DC,
            0x1F90D,
            0x1F90E,
            0x1F9E1,
            0x1FAAF,
        ),
        "symbol",
    ),
    **dict.fromkeys(
        (
            0x1F385,
            0x1F3C7,
            0x1F47C,
            0x1F48F,
            0x1F491,
            0x1F574,
            0x1F575,
            0x1F57A,
            0x1F590,
            0x1F595,
            0x1F596,
            0x1F5E3,
            0x1F6A3,
            0x1F6C0,
            0x1F6CC,
            0x1F977,
            0x1F9BB,
            0x1FAE6,
        ),
        "person",
    ),
    **dict.fromkeys((0x1F4A9, 0x1F9D0), "face"),
    **dict.fromkeys((0x1F490, 0x1F4AE, 0x1F3F5, 0x1F54A, 0x1F577, 0x1F578, 0x1F940), "animal"),
    **dict.fromkeys(
        (0x1F330, 0x1F336, 0x1F33D, 0x1F344, 0x1F382, 0x1F3FA, 0x1F52A, 0x1F980, 0x1F990, 0x1F991, 0x1F99E, 0x1F9AA),
        "food",
    ),
    **dict.fromkeys((0x1F4A1, 0x1F4A3, 0x1F4A7, 0x1F9AF, 0x1F9BA, 0x1F9BC, 0x1F9BD, 0x1FAB5, 0x1FAE7), "object"),
}

_RANGES = (
    (0x1F1E6, 0x1F1FF, "flag"),  # regional indicators: two make a country flag
    (0x1F170, 0x1F251, "symbol"),  # 🅰 🆎 🈁 ...: letters and ideographs in boxes
    (0x1F32D, 0x1F32F, "food"),
    (0x1F331, 0x1F343, "animal"),
    (0x1F345, 0x1F37F, "food"),
    (0x1F3C2, 0x1F3C4, "person"),
    (0x1F3CA, 0x1F3CC, "person"),
    (0x1F400, 0x1F43F, "animal"),
    (0x1F440, 0x1F450, "person"),
    (0x1F451, 0x1F462, "object"),
    (0x1F463, 0x1F478, "person"),
    (0x1F479, 0x1F480, "face"),
    (0x1F481, 0x1F483, "person"),
    (0x1F485, 0x1F487, "person"),
    (0x1F493, 0x1F4A0, "symbol"),
    (0x1F4AA, 0x1F4AA, "person"),
    (0x1F500, 0x1F506, "symbol"),
    (0x1F519, 0x1F524, "symbol"),
    (0x1F52F, 0x1F53D, "symbol"),
    (0x1F600, 0x1F644, "face"),
    (0x1F645, 0x1F647, "person"),
    (0x1F648, 0x1F64A, "face"),
    (0x1F64B, 0x1F64F, "person"),
    (0x1F6AD, 0x1F6B1, "symbol"),
    (0x1F6B4, 0x1F6B6, "person"),
    (0x1F6B9, 0x1F6BC, "symbol"),
    (0x1F6C2, 0x1F6C5, "symbol"),
    (0x1F7E0, 0x1F7F0, "symbol"),  # coloured circles and squares
    (0x1F90C, 0x1F90F, "person"),
    (0x1F910, 0x1F917, "face"),
    (0x1F918, 0x1F91F, "person"),
    (0x1F920, 0x1F925, "face"),
    (0x1F926, 0x1F926, "person"),
    (0x1F927, 0x1F92F, "face"),
    (0x1F930, 0x1F93E, "person"),
    (0x1F942, 0x1F944, "food"),
    (0x1F950, 0x1F96F, "food"),
    (0x1F970, 0x1F97A, "face"),
    (0x1F981, 0x1F9AE, "animal"),
    (0x1F9B4, 0x1F9BF, "person"),
    (0x1F9C0, 0x1F9CB, "food"),
    (0x1F9CC, 0x1F9E0, "person"),
    (0x1FA75, 0x1FA77, "symbol"),  # pink, light blue and grey hearts
    (0x1FAB0, 0x1FABF, "animal"),
    (0x1FAC0, 0x1FAC6, "person"),
    (0x1FACE, 0x1FACF, "animal"),
    (0x1FAD0, 0x1FADC, "food"),
    (0x1FAE0, 0x1FAEF, "face"),
    (0x1FAF0, 0x1FAFF, "person"),
)


def group(text: str) -> str:
    """The coarse group of an emoji (see the module docstring for the rule)."""
    cp = ord(text[0])
    if cp in _EXCEPTIONS:
        return _EXCEPTIONS[cp]
    for lo, hi, name in _RANGES:
        if lo <= cp <= hi:
            return name
    return "symbol" if cp < 0x1F000 else "object"


def name_words(name: str) -> list[str]:
    """':thumbs_up_medium-light_skin_tone:' -> ['thumbs', 'up', 'medium-light', 'skin', 'tone']."""
    return name.strip(":").lower().split("_")


def skin_tones(words: list[str]) -> set[str]:
    """Every tone named as '<tone>_skin_tone'; two-person emoji can carry two."""
    return {words[i] for i in range(len(words) - 2) if words[i + 1 : i + 3] == ["skin", "tone"]}


def attributes(text: str, name: str) -> dict[str, bool]:
    """Boolean attributes of one emoji, from its name; keys are the same for every emoji."""
    words = name_words(name)
    tones = skin_tones(words)
    present = set(words)
    out = {f"skin_{tone.replace('-', '_')}": tone in tones for tone in SKIN_TONES}
    out["has_skin_tone"] = bool(tones)
    out["man"] = bool(present & MAN_WORDS)
    out["woman"] = bool(present & WOMAN_WORDS)
    out["person"] = bool(present & PERSON_WORDS)
    out["face"] = "face" in present or group(text) == "face"  # 🐶 dog_face too, not just smileys
    out["cat"] = bool(present & CAT_WORDS)
    out["smiling"] = bool(present & SMILING_WORDS)
    out["frowning"] = bool(present & FROWNING_WORDS)
    return out
