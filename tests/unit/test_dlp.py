"""The detector table: each detector finds its pattern, checksums reject look-alikes,
and findings never carry the matched text."""

from __future__ import annotations

import pytest

from zhijian.dlp import CLASSIFIED, L1, L2, L3, credit_code_valid, detect, resident_id_valid

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
