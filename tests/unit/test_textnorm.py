"""The detectors' normal form: width, format characters, digit systems and grouped
identifiers folded away, every character traceable to where it was."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhijian.dlp import GROUP_SHAPES
from zhijian.textnorm import normalize

ID = "11010519491231002X"  # GB 11643's own example number


@pytest.mark.parametrize(("text", "expected"), [
    ("１２３ＡＢＣ＠", "123ABC@"),  # full width
    ("a\u200bb\u200cc\u200dd\u2060e\ufeff\u00adf", "abcdef"),  # format characters
    ("٣٤٥ ३४५ ๓๔๕ 𝟑𝟒𝟓", "345 345 345 345"),  # Arabic-Indic, Devanagari, Thai, math bold
    ("秘\ufe0f密", "秘密"),  # a variation selector renders as nothing too
    ("⑴", "(1)"),  # expansions keep their source
    ("电子血压计", "电子血压计"),
])
def test_characters_are_folded(text: str, expected: str) -> None:
    assert normalize(text).text == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("110105 19491231 002X", ID),
    ("1101-0519-4912-3100-2X", ID),
    ("110105.19491231.002.X", ID),
    ("110105\u300019491231\u3000002X", ID),  # ideographic spaces
    ("138 0013 8000", "13800138000"),
    ("+86 138-0013-8000", "+8613800138000"),
])
def test_identifier_shaped_groups_are_joined(text: str, expected: str) -> None:
    assert normalize(text, GROUP_SHAPES).text == expected


@pytest.mark.parametrize("text", [
    "生产日期 2023-01-15，有效期至 2025.01.14",
    "NDC 0002-3227-30 and NDC 50090-2875-0",
    "Lot 12345-678-90, REF 400.123.456",
    "call 1-800-438-1985",  # North American grouping of a number that starts 1-8
    "110105 19491231 0021",  # 18 digits, but not a valid identity number
    "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8",
    "13800138000 2023",  # already whole; the year stays apart
    "138  0013  8000",  # double separators are not one identifier
])
def test_other_numbers_keep_their_separators(text: str) -> None:
    assert normalize(text, GROUP_SHAPES).text == normalize(text).text


def test_groups_are_never_joined_across_other_text() -> None:
    text = "138 0013 号 8000"
    assert normalize(text, GROUP_SHAPES).text == text


def test_spans_map_back_to_the_original() -> None:
    text = "号码：１３８\u200b 0013 ８０００。"
    seen = normalize(text, GROUP_SHAPES)
    start = seen.text.index("13800138000")
    first, last = seen.original_span(start, start + 11)
    assert text[first:last] == "１３８\u200b 0013 ８０００"


def test_an_expansion_maps_to_its_one_source_character() -> None:
    text = "a⑴b"
    seen = normalize(text)
    assert seen.text == "a(1)b"
    assert [seen.original_index(i) for i in range(5)] == [0, 1, 1, 1, 2]
    assert seen.original_span(1, 4) == (1, 2)
    assert seen.original_span(5, 5) == (3, 3)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_every_character_comes_from_one_at_or_after_the_previous(text: str) -> None:
    seen = normalize(text, GROUP_SHAPES)
    origins = [seen.original_index(i) for i in range(len(seen.text))]
    assert origins == sorted(origins)
    assert all(0 <= at < len(text) for at in origins)
    for i, at in enumerate(origins):
        # Each normalised character is part of what its source character folds into
        # (digits of other scripts as ASCII).
        source = unicodedata.normalize("NFKC", text[at])
        folded = "".join(str(unicodedata.decimal(c, c)) if unicodedata.decimal(c, None)
                         is not None else c for c in source)
        assert seen.text[i] in folded


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=200))
@settings(max_examples=200, deadline=None)
def test_ascii_without_grouped_identifiers_is_unchanged(text: str) -> None:
    assert normalize(text).text == text
