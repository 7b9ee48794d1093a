"""The detector table: each detector finds its pattern, checksums reject look-alikes,
and findings never carry the matched text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhijian.dlp import (
    CLASSIFIED,
    L1,
    L2,
    L3,
    PERSONAL_MAIL_DOMAINS,
    credit_code_valid,
    detect,
    resident_id_valid,
)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str) -> str:
    """A number with a correct check character, computed here independently."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS,
                                                                    strict=True)) % 11]


VALID_ID = resident_id("44030119900307215")


def flip_check(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


@pytest.mark.parametrize(("text", "detector", "level"), [
    (f"申请人身份证号{VALID_ID}，", "resident_id_number", L3),
    (f"ID {VALID_ID.lower()}", "resident_id_number", L3),
    ("联系人手机13812345678。", "personal_mobile_number", L3),
    ("手机：+86 139-1234-5678", "personal_mobile_number", L3),
    ("请发送至 zhang.san@qq.com", "personal_email", L3),
    ("contact jane.doe@Gmail.com", "personal_email", L3),
    ("患者姓名：李四，男，45岁", "patient_identifier", L3),
    ("MRN: 00123456", "patient_identifier", L3),
    ("住院号: 2023-0042", "patient_identifier", L3),
    ("绝密★ 启用前", "classification_marking", CLASSIFIED),
    ("机密★五年", "classification_marking", CLASSIFIED),
    ("秘密 ★ 一年", "classification_marking", CLASSIFIED),
    ("统一社会信用代码 91350100M000100Y43", "unified_social_credit_code", L2),
])
def test_each_detector_finds_its_pattern(text: str, detector: str, level: int) -> None:
    found = detect(text)
    assert found.detectors() == [detector]
    assert found.level == level
    finding = found.findings[0]
    assert 0 <= finding.start < finding.end <= len(text)
    assert not hasattr(finding, "text"), "findings must not carry what they found"


@pytest.mark.parametrize("text", [
    "本产品涉及商业秘密，未经许可不得复制",  # the word, not the marking
    "技术秘密保护条款",
    "For medical information call 1-800-438-1985 or visit www.example.com",
    "Questions? medinfo@pfizer.com",  # a company address is not personal
    "UPC: 13964447019",  # a product code that looks like a mobile number
    "批号 13800000000",
    f"编号{flip_check(VALID_ID)}",  # wrong check character
    "91350100M000100Y44",  # wrong credit-code check character
    "产品注册证编号：国械注准20163460123",
    "patient should take 2 tablets daily",
    "",
])
def test_public_regulatory_text_is_not_flagged(text: str) -> None:
    found = detect(text)
    assert found.findings == () and found.level == L1


def test_the_highest_level_wins_and_markings_are_classified() -> None:
    text = f"机密★ 患者 {VALID_ID} 统一社会信用代码 91350100M000100Y43"
    found = detect(text)
    assert found.classified and found.level == CLASSIFIED
    assert found.detectors() == ["classification_marking", "resident_id_number",
                                 "unified_social_credit_code"]
    assert [f.start for f in found.findings] == sorted(f.start for f in found.findings)


def test_checksums() -> None:
    assert resident_id_valid(VALID_ID)
    assert not resident_id_valid(flip_check(VALID_ID))
    assert not resident_id_valid(resident_id("44030119901307215"))  # month 13
    assert credit_code_valid("91350100M000100Y43")
    assert not credit_code_valid("91350100M000100Y4I")  # I is not in the alphabet


# ---------------------------------------------------------------------------------------
# Rewritten forms: what a model reads through, the detectors must read through too.
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "detector"), [
    ("身份证１１０１０５１９４９１２３１００２Ｘ，请核实", "resident_id_number"),
    ("身份证 110105 19491231 002X", "resident_id_number"),
    ("身份证1101-0519-4912-3100-2x", "resident_id_number"),
    ("身份证110105\u200b1949\u200c1231002X", "resident_id_number"),
    ("身份证١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "resident_id_number"),  # Arabic-Indic digits
    ("手机１３８００１３８０００", "personal_mobile_number"),
    ("手机 138 0013 8000", "personal_mobile_number"),
    ("zhang.san＠qq.com", "personal_email"),
    ("ＺＨＡＮＧ＠ＧＭＡＩＬ．ＣＯＭ", "personal_email"),
    ("患\u200b者姓名：李四", "patient_identifier"),
    ("秘\u200b密★", "classification_marking"),
    ("机 密 ★ 五年", "classification_marking"),
])
def test_rewritten_forms_reported_by_the_attack_are_found(text: str, detector: str) -> None:
    assert detector in detect(text).detectors()


ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e")
SEPARATORS = (" ", "\u3000", "-", ".", "\uff0d", "\u2013", "\u00a0")
# Decimal digit zeros of other scripts: Arabic-Indic, extended Arabic-Indic, Devanagari,
# Bengali, Thai, Tibetan, Myanmar, full width, mathematical bold and monospace.
DIGIT_ZEROS = (0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xF20, 0x1040, 0xFF10, 0x1D7CE,
               0x1D7F6)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.integers(110000, 659999))
    year = draw(st.integers(1900, 2099))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    serial = draw(st.integers(0, 999))
    return resident_id(f"{region}{year:04d}{month:02d}{day:02d}{serial:03d}")


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return "1" + draw(st.sampled_from("3456789")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))


def _digit(draw: st.DrawFn, char: str) -> str:
    if not char.isdigit():  # the X check character, in either width and case
        return draw(st.sampled_from(["X", "x", "Ｘ", "ｘ"]))
    return chr(draw(st.sampled_from(DIGIT_ZEROS)) + int(char))


@st.composite
def rewritten_digits(draw: st.DrawFn, number: str, group_sizes: list[int] | None = None
                     ) -> str:
    """Each digit in some script, zero-width characters anywhere, and single
    separators between groups (random groups unless sizes are given)."""
    cuts: set[int] = set()
    if group_sizes is None:
        cuts = set(draw(st.lists(st.integers(1, len(number) - 1), max_size=5)))
    else:
        at = 0
        for size in group_sizes[:-1]:
            at += size
            cuts.add(at)
    separator = draw(st.sampled_from(SEPARATORS))
    out = []
    for i, char in enumerate(number):
        if i in cuts:
            out.append(separator)
        if draw(st.booleans()) and draw(st.booleans()):
            out.append(draw(st.sampled_from(ZERO_WIDTH)))
        out.append(_digit(draw, char))
    return "".join(out)


def _widen(draw: Callable[..., Any], text: str) -> str:
    """Some ASCII characters as their full-width forms, some zero-width characters."""
    out = []
    for char in text:
        if "!" <= char <= "~" and draw(st.booleans()):
            char = chr(ord(char) + 0xFEE0)
        out.append(char)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from(ZERO_WIDTH)))
    return "".join(out)


CONTEXTS = st.sampled_from([("身份证号码：", "。"), ("联系人 ", "，谢谢"), ("", ""),
                            ("ID: ", " (copy)"), ("报告人（", "）"), ("\n", "\n")])


def _found_within(text: str, start: int, end: int, detector: str) -> bool:
    return any(f.detector == detector and start <= f.start < f.end <= end
               for f in detect(text).findings)


@given(resident_ids().flatmap(lambda number: rewritten_digits(number)), CONTEXTS)
@settings(max_examples=400, deadline=None)
def test_every_rewritten_resident_id_is_found(rewritten: str,
                                              context: tuple[str, str]) -> None:
    text = context[0] + rewritten + context[1]
    assert _found_within(text, len(context[0]), len(context[0]) + len(rewritten),
                         "resident_id_number"), text


@given(st.data(), mobiles(), CONTEXTS, st.booleans())
@settings(max_examples=400, deadline=None)
def test_every_rewritten_mobile_is_found(data: st.DataObject, number: str,
                                         context: tuple[str, str], country: bool) -> None:
    # People group mobiles 3-4-4 or not at all, with +86 or without; the North American
    # 1-3-3-4 grouping is left to the negative test above.
    sizes = data.draw(st.sampled_from([[11], [3, 4, 4], [3, 8], [7, 4], [5, 6]]))
    rewritten = data.draw(rewritten_digits(number, sizes))
    if country:
        rewritten = data.draw(st.sampled_from(["+86 ", "86-", "＋８６", "+86"])) + rewritten
    text = context[0] + rewritten + context[1]
    assert _found_within(text, len(context[0]), len(context[0]) + len(rewritten),
                         "personal_mobile_number"), text


@given(st.data(), st.from_regex(r"[a-z0-9][a-z0-9._]{0,15}", fullmatch=True),
       st.sampled_from(PERSONAL_MAIL_DOMAINS), CONTEXTS)
@settings(max_examples=300, deadline=None)
def test_every_rewritten_personal_email_is_found(data: st.DataObject, local: str, domain: str,
                                                 context: tuple[str, str]) -> None:
    address = data.draw(st.sampled_from([str.lower, str.upper, str.title]))(
        f"{local}@{domain}")
    rewritten = _widen(data.draw, address)
    text = context[0] + rewritten + context[1]
    assert _found_within(text, len(context[0]), len(context[0]) + len(rewritten),
                         "personal_email"), text


@given(st.data(), st.sampled_from(["患者姓名", "病人姓名", "病历号", "住院号", "门诊号", "就诊卡号",
                                   "医保卡号", "patient name", "MRN", "medical record number"]),
       st.sampled_from([":", "：", ": ", " ： "]))
@settings(max_examples=300, deadline=None)
def test_every_rewritten_patient_identifier_is_found(data: st.DataObject, label: str,
                                                     colon: str) -> None:
    if label.isascii():
        label = data.draw(st.sampled_from([str.lower, str.upper, str.title]))(label)
    rewritten = _widen(data.draw, label) + colon + data.draw(st.sampled_from(["李四", "0042"]))
    text = "记录：" + rewritten + "。"
    assert _found_within(text, 3, 3 + len(rewritten), "patient_identifier"), text


@given(st.data(), st.sampled_from(["绝密", "机密", "秘密"]), st.sampled_from(["★", "☆"]))
@settings(max_examples=300, deadline=None)
def test_every_rewritten_marking_is_found(data: st.DataObject, word: str, star: str) -> None:
    gap = st.sampled_from(["", " ", "\u3000", *ZERO_WIDTH])
    rewritten = word[0] + data.draw(gap) + word[1] + data.draw(gap) + star
    text = data.draw(st.sampled_from(["", "文件 ", "（"])) + rewritten + " 五年"
    found = detect(text)
    assert found.classified, text


def test_north_american_numbers_and_trade_secrets_stay_unflagged() -> None:
    assert detect("Call 1-800-438-1985 or 1.888.463.6332").findings == ()
    assert detect("本说明书涉及商业秘密 ★ 请勿外传").findings == ()
    assert detect("技术\u200b秘密★").findings == ()
