"""Robustness perturbations: each changes a text in its stated way and nothing else."""

from __future__ import annotations

import pytest

from registry.validation.perturb import (
    PERTURBATIONS,
    case,
    punctuation,
    units,
    whitespace,
    width,
)

SAMPLES = ["一次性使用无菌注射器，规格：5ml。", "Sterile syringe (5 mL); Luer lock.",
           "阿莫西林胶囊 0.25g，每盒24粒", "Dog shampoo", "每毫升含肝素钠 5000 IU"]


def test_the_five_planned_perturbations_exist() -> None:
    assert set(PERTURBATIONS) == {"width", "whitespace", "case", "punctuation", "units"}


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
@pytest.mark.parametrize("text", SAMPLES)
def test_perturbations_are_deterministic(name: str, text: str) -> None:
    perturb = PERTURBATIONS[name]
    assert perturb(text) == perturb(text)


def test_width_turns_ascii_into_full_width_forms() -> None:
    assert width("Syringe 5ml, No.3") == "Ｓｙｒｉｎｇｅ ５ｍｌ， Ｎｏ．３"
    assert width("!~") == "\uff01\uff5e"  # both ends of the range


def test_width_leaves_text_without_ascii_alone() -> None:
    assert width("一次性使用无菌注射器") == "一次性使用无菌注射器"


def test_whitespace_doubles_spaces_and_pads() -> None:
    assert whitespace("Sterile syringe 5 ml") == " Sterile  syringe  5  ml "


def test_whitespace_splits_a_run_of_chinese_characters_once() -> None:
    perturbed = whitespace("无菌注射器")
    assert perturbed.startswith(" ") and perturbed.endswith(" ")
    inner = perturbed[1:-1]
    assert inner.count(" ") == 1
    assert inner.replace(" ", "") == "无菌注射器"
    assert not inner.startswith(" ") and not inner.endswith(" ")


def test_whitespace_does_not_split_latin_words() -> None:
    assert whitespace("syringe") == " syringe "


def test_case_swaps_latin_letters_only() -> None:
    assert case("Sterile Syringe 5 mL") == "sTERILE sYRINGE 5 Ml"
    assert case("注射器") == "注射器"
    # The micro sign is not a Latin letter; swapping it would turn µg into a Greek capital.
    assert case("5 µg") == "5 µG"


def test_punctuation_swaps_chinese_and_ascii_marks_both_ways() -> None:
    assert punctuation("规格：5支，（无菌）；合格。") == "规格:5支,(无菌);合格."
    assert punctuation("Size: 5, (sterile); ok.") == "Size： 5， （sterile）； ok。"


def test_punctuation_applied_twice_restores_the_text() -> None:
    text = "规格：5支, (无菌)；合格."
    assert punctuation(punctuation(text)) == text


def test_punctuation_keeps_the_marks_inside_numbers() -> None:
    assert punctuation("0.9% saline, 1,000 mL at 10:30.") == "0.9% saline， 1,000 mL at 10:30。"


@pytest.mark.parametrize(("text", "expected"), [
    ("每片10mg", "每片10毫克"),
    ("每片10毫克", "每片10mg"),
    ("5 g per sachet", "5 克 per sachet"),
    ("0.25克", "0.25g"),
    ("20 kg", "20 千克"),
    ("20千克", "20kg"),
    ("5 ml", "5 毫升"),
    ("5 mL", "5 毫升"),
    ("5毫升", "5mL"),
    ("50 μg", "50 微克"),
    ("50 ug", "50 微克"),
    ("50 mcg", "50 微克"),
    ("50微克", "50μg"),
    ("5000 IU", "5000 国际单位"),
    ("5000国际单位", "5000IU"),
    ("10 mg/kg", "10 毫克/千克"),
])
def test_units_swap_latin_and_chinese_spellings(text: str, expected: str) -> None:
    assert units(text) == expected


@pytest.mark.parametrize("text", [
    "Dog shampoo",  # "g" inside a word
    "drug eluting stent",  # "ug" inside a word
    "IUD, copper",  # "IU" inside a word
    "HTML viewer",
    "e.g. a swab",  # a lone "g" that is not after a number
    "阿莫西林克拉维酸钾片",  # 克 spelling a syllable, not a gram
    "巧克力味",
])
def test_units_leave_words_that_only_contain_unit_letters_alone(text: str) -> None:
    assert units(text) == text


def test_units_swap_in_one_pass_so_nothing_is_swapped_back() -> None:
    # Both spellings in one text: each moves to the other side once.
    assert units("10mg (10毫克)") == "10毫克 (10mg)"
