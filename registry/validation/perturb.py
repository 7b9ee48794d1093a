"""Input perturbations for the robustness check: edits that keep a text's meaning.

Each is a pure, deterministic ``str -> str``, so two runs of a plan perturb identically.
They mimic what applicants' texts really vary in: full-width characters typed by a
Chinese input method, stray spaces, letter case, Chinese versus ASCII punctuation, and
unit spellings (mg / 毫克).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Final

# ASCII "!" (0x21) to "~" (0x7E) map one-to-one onto U+FF01..U+FF5E.
_FULL_WIDTH_OFFSET: Final = 0xFF01 - 0x21
_TO_FULL_WIDTH: Final = {code: code + _FULL_WIDTH_OFFSET for code in range(0x21, 0x7F)}

# CJK Unified Ideographs (with extension A) and the compatibility block.
CJK_CHAR: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_PUNCTUATION_PAIRS: Final = {"，": ",", "。": ".", "（": "(", "）": ")", "：": ":", "；": ";"}
_SWAP_PUNCTUATION: Final = {**_PUNCTUATION_PAIRS, **{a: z for z, a in _PUNCTUATION_PAIRS.items()}}
_PUNCTUATION = re.compile("[" + re.escape("".join(_SWAP_PUNCTUATION)) + "]")

# Latin spellings (several may share a Chinese form) and the form each swaps to.
_LATIN_UNITS: Final = {"mg": "毫克", "kg": "千克", "ml": "毫升", "mL": "毫升", "μg": "微克",
                       "µg": "微克", "ug": "微克", "mcg": "微克", "IU": "国际单位"}
_CHINESE_UNITS: Final = {"毫克": "mg", "千克": "kg", "毫升": "mL", "微克": "μg",
                         "国际单位": "IU"}
_BARE_GRAM: Final = {"g": "克", "克": "g"}


def _alternation(words: list[str]) -> str:
    # Longest first, so that "mcg" wins over a shorter spelling at the same position.
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# One pattern, applied in one pass, so that a unit swapped one way is not swapped back.
# Latin units must stand alone as words ("Dog", "drug", "IUD" and "html" stay); the bare
# gram ("g" / "克") only counts right after a number, because 克 also spells syllables of
# names (克拉维酸, 巧克力) and "g" occurs in abbreviations such as "e.g.".
_UNITS = re.compile(
    r"(?<![A-Za-zµμ])(?P<latin>" + _alternation(list(_LATIN_UNITS)) + r")(?![A-Za-z])"
    r"|(?P<chinese>" + _alternation(list(_CHINESE_UNITS)) + r")"
    r"|(?<=\d)(?P<space>[ \t]*)(?P<gram>g|克)(?![A-Za-z])"
)


def width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (Ａ, ２, ，)."""
    return text.translate(_TO_FULL_WIDTH)


def whitespace(text: str) -> str:
    """Every space doubled, a space inside a run of Chinese characters, and padding."""
    spaced = text.replace(" ", "  ")
    # Gaps between two adjacent CJK characters; the middle one is taken, so that the space
    # tends to fall inside a term rather than at its edge, the same way on every run.
    gaps = [i for i in range(1, len(spaced))
            if CJK_CHAR.match(spaced[i - 1]) and CJK_CHAR.match(spaced[i])]
    if gaps:
        middle = gaps[len(gaps) // 2]
        spaced = spaced[:middle] + " " + spaced[middle:]
    return f" {spaced} "


def _is_latin_letter(char: str) -> bool:
    return char.isalpha() and "LATIN" in unicodedata.name(char, "")


def case(text: str) -> str:
    """Upper-case Latin letters to lower case and back; other scripts stay (µ is not μ's
    capital, and "ß" would grow into "SS")."""
    return "".join(c.swapcase() if _is_latin_letter(c) and len(c.swapcase()) == 1 else c
                   for c in text)


def _swap_punctuation(match: re.Match[str]) -> str:
    char = match.group()
    text = match.string
    start = match.start()
    before = text[start - 1] if start > 0 else ""
    after = text[start + 1] if start + 1 < len(text) else ""
    # "0.9%", "1,000" and "10:30" are numbers, not sentence punctuation.
    if char in ",.:" and before.isdigit() and after.isdigit():
        return char
    return _SWAP_PUNCTUATION[char]


def punctuation(text: str) -> str:
    """Chinese punctuation (，。（）：；) as ASCII and ASCII as Chinese."""
    return _PUNCTUATION.sub(_swap_punctuation, text)


def _swap_unit(match: re.Match[str]) -> str:
    if match.group("latin"):
        return _LATIN_UNITS[match.group("latin")]
    if match.group("chinese"):
        return _CHINESE_UNITS[match.group("chinese")]
    return match.group("space") + _BARE_GRAM[match.group("gram")]


def units(text: str) -> str:
    """Unit spellings swapped between Latin and Chinese: mg ↔ 毫克, g ↔ 克, kg ↔ 千克,
    ml/mL ↔ 毫升, μg/ug/mcg ↔ 微克, IU ↔ 国际单位."""
    return _UNITS.sub(_swap_unit, text)


PERTURBATIONS: Final[dict[str, Callable[[str], str]]] = {
    "width": width,
    "whitespace": whitespace,
    "case": case,
    "punctuation": punctuation,
    "units": units,
}
