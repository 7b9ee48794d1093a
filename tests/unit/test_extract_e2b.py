"""E2B(R3) ICSRs mapped to case-report fields, from the project's own sample message
(services/extract/samples, written from the public element list), in UTF-8 and GB18030."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.extract import intake
from services.extract.e2b import NotAnIcsr, case_from_e2b
from services.extract.intake import DocumentType, read_document
from zhijian.errors import ZhijianError

SAMPLE = Path(__file__).resolve().parents[2] / "services" / "extract" / "samples" / \
    "e2b_r3_case.xml"


def _case(data: bytes) -> dict:
    document = read_document(data)
    assert document.type is DocumentType.E2B
    assert document.root is not None
    return case_from_e2b(document.root)


def test_the_sample_maps_to_every_field_it_holds() -> None:
    case = _case(SAMPLE.read_bytes())
    assert case["case_id"] == "CN-ZJ-2024-000123"
    assert case["report_type"] == "spontaneous"
    assert case["narrative"].startswith("患者女，45岁")
    assert case["patient"] == {"initials": "W.L.", "sex": "female",
                               "age": {"value": "45", "unit": "year"}, "age_group": "",
                               "weight_kg": "58"}
    suspect, concomitant = case["drugs"]
    assert (suspect["name"], suspect["role"], suspect["dose"], suspect["lot"],
            suspect["indication"], suspect["start"], suspect["stop"]) == (
        "阿莫西林胶囊", "suspect", {"value": "0.5", "unit": "g"}, "B20231107", "急性支气管炎",
        "20240301", "20240303")
    assert (concomitant["name"], concomitant["role"]) == ("氯雷他定片", "concomitant")
    [reaction] = case["reactions"]
    assert reaction == {"verbatim": "全身皮疹伴瘙痒", "meddra_code": "10037844",
                        "onset": "20240303", "outcome": "recovered",
                        "seriousness": ["other_medically_important"]}
    assert case["reporter"] == {"qualification": "physician", "country": "CN"}


def test_a_gb18030_message_reads_the_same() -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="GB18030"')
    data = text.encode("gb18030")
    assert read_document(data).encoding == "gb18030"
    assert _case(data) == _case(SAMPLE.read_bytes())


def test_a_declared_encoding_that_does_not_fit_is_refused() -> None:
    text = SAMPLE.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="ascii"')
    with pytest.raises(ZhijianError) as error:
        read_document(text.encode("utf-8"))
    assert error.value.reason == intake.UNDECODABLE_DOCUMENT
    bogus = SAMPLE.read_bytes().replace(b'encoding="UTF-8"', b'encoding="klingon-8"')
    with pytest.raises(ZhijianError, match="klingon-8"):
        read_document(bogus)


def test_xml_that_is_no_icsr_and_an_attack_inside_one() -> None:
    with pytest.raises(NotAnIcsr):
        _case(b"<?xml version='1.0'?><catalog xmlns='urn:hl7-org:v3'><item/></catalog>")
    attack = SAMPLE.read_bytes().replace(
        b"<MCCI_IN200100UV01", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
        b"<MCCI_IN200100UV01", 1).replace(b"W.L.", b"&e;")
    with pytest.raises(ZhijianError) as error:
        read_document(attack)
    assert error.value.reason == intake.XML_EXTERNAL_REFERENCE_FORBIDDEN


def test_missing_parts_are_empty_not_invented() -> None:
    minimal = (b'<investigationEvent xmlns="urn:hl7-org:v3"><text>rash</text>'
               b"</investigationEvent>")
    case = _case(minimal)
    assert case["narrative"] == "rash"
    assert case["drugs"] == [] and case["reactions"] == []
    assert case["patient"]["sex"] == "" and case["patient"]["age"] is None
    assert case["reporter"] == {"qualification": "", "country": ""}
