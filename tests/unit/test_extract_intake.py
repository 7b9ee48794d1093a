"""Extract's document intake: encodings named or refused, PDFs with and without a text
layer, XML attacks refused by reason, row formats by line, chunks that keep offsets.

The PDFs are written here byte by byte (a page with a text stream, a page without one),
so the test needs no PDF writer; the VAERS and FAERS rows are real ones from
``../shared/datasets`` when it is present.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.extract import intake
from services.extract.intake import DocumentType, read_document
from zhijian.errors import ZhijianError

REPORT = ("患者女，45岁，2024年3月1日起口服阿莫西林胶囊0.5g，每日3次，用于急性支气管炎。"
          "3月3日出现全身皮疹伴瘙痒，停药后好转。报告人：医生。")
DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _reason(error: pytest.ExceptionInfo[ZhijianError]) -> str:
    return error.value.reason


@pytest.mark.parametrize(("encoding", "named"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("utf-16", "utf-16"), ("gb18030", "gb18030"),
    ("gbk", "gb18030")])
def test_encodings_are_detected_and_named(encoding: str, named: str) -> None:
    document = read_document(REPORT.encode(encoding))
    assert document.type is DocumentType.TEXT
    assert document.text == REPORT
    assert document.encoding == named


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 8,  # binary
    "报告".encode("utf-16-le") + b"\xff\xfe\x00\xd8\x00",  # UTF-16 without BOM, lone surrogate
    b"\xff\xfe" + b"\x00\xd8" * 50,  # a BOM, then lone surrogates
])
def test_undecodable_documents_are_refused_not_guessed(data: bytes) -> None:
    with pytest.raises(ZhijianError) as error:
        read_document(data)
    assert _reason(error) == intake.UNDECODABLE_DOCUMENT
    assert error.value.code.name == "INVALID_ARGUMENT"


def test_size_limit_and_empty_documents() -> None:
    with pytest.raises(ZhijianError) as error:
        read_document(b"a" * (intake.MAX_DOCUMENT_BYTES + 1))
    assert _reason(error) == intake.DOCUMENT_TOO_LARGE
    with pytest.raises(ZhijianError) as error:
        read_document(b" \n\t")
    assert _reason(error) == intake.DOCUMENT_EMPTY


def _pdf(*page_streams: bytes | None) -> bytes:
    """A minimal PDF: one page per stream (None: a page with no content, like a scan)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for stream in page_streams:
        page_number = len(objects) + 1
        kids.append(f"{page_number} 0 R".encode())
        if stream is None:
            objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>")
            continue
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents "
                       f"{page_number + 1} 0 R /Resources << /Font << /F1 "
                       f"{page_number + 2} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(kids)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def test_a_pdf_text_layer_is_read_page_by_page() -> None:
    document = read_document(_pdf(b"BT /F1 12 Tf 72 720 Td (Patient developed rash) Tj ET",
                                  b"BT /F1 12 Tf 72 720 Td (Outcome: recovered) Tj ET"))
    assert document.type is DocumentType.PDF
    assert document.text.split("\f") == ["Patient developed rash", "Outcome: recovered"]


def test_a_scan_without_text_layer_and_a_broken_pdf_are_refused() -> None:
    with pytest.raises(ZhijianError) as error:
        read_document(_pdf(None, None))
    assert _reason(error) == intake.NO_TEXT_LAYER
    assert error.value.code.name == "FAILED_PRECONDITION"
    with pytest.raises(ZhijianError) as error:
        read_document(b"%PDF-1.4\n garbage with no objects")
    assert _reason(error) == intake.UNREADABLE_PDF


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ichicsr>&lol2;</ichicsr>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><ichicsr>&xxe;</ichicsr>"""
DTD_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE ichicsr SYSTEM "http://127.0.0.1:9/ich-icsr-v2.1.dtd"><ichicsr/>"""


@pytest.mark.parametrize(("data", "reason"), [
    (BOMB, intake.XML_ENTITIES_FORBIDDEN), (EXTERNAL, intake.XML_EXTERNAL_REFERENCE_FORBIDDEN),
    (DTD_ONLY, intake.XML_DTD_FORBIDDEN), (b"<ichicsr><unclosed></ichicsr>", intake.MALFORMED_XML),
])
def test_xml_attacks_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ZhijianError) as error:
        read_document(data)
    assert _reason(error) == reason


def test_well_formed_xml_is_parsed() -> None:
    document = read_document('<?xml version="1.0" encoding="UTF-8"?>'
                             '<ichicsr><text>皮疹</text></ichicsr>'.encode())
    assert document.type is DocumentType.E2B
    assert document.root is not None and document.root.findtext("text") == "皮疹"


def test_rows_are_keyed_by_header_and_a_bad_row_is_named_by_line() -> None:
    vaers = ('VAERS_ID,AGE_YRS,SEX,SYMPTOM_TEXT\n0025001,0.2,F,"Loud cry, screaming"\n'
             "0025003,0.8,M,Hypotonic\n")
    document = read_document(vaers.encode())
    assert document.type is DocumentType.VAERS
    assert document.records[0] == {"vaers_id": "0025001", "age_yrs": "0.2", "sex": "F",
                                   "symptom_text": "Loud cry, screaming"}
    faers = "primaryid$caseid$age$sex$\n1001$10$45$F$\n1002$11$60$M$\n"
    assert read_document(faers.encode()).records[1] == {"primaryid": "1002", "caseid": "11",
                                                        "age": "60", "sex": "M"}
    with pytest.raises(ZhijianError) as error:
        read_document(b"primaryid$caseid$\n1$2$\n1$2$3$4$\n")
    assert _reason(error) == intake.MALFORMED_ROW and error.value.metadata["line"] == "3"


@pytest.mark.skipif(not (DATASETS / "vaers_1990").is_dir(), reason="../shared/datasets absent")
def test_real_vaers_and_faers_files_are_read() -> None:
    data = (DATASETS / "vaers_1990" / "1990VAERSDATA.csv").read_bytes()
    vaers = read_document(data)
    assert vaers.type is DocumentType.VAERS and len(vaers.records) > 1000
    assert all(record["vaers_id"] for record in vaers.records)
    with zipfile.ZipFile(DATASETS / "adverse_event_reports" / "faers_ascii_2017q2.zip") as z:
        name = next(n for n in z.namelist() if "DEMO" in n.upper() and n.upper().endswith("TXT"))
        demo = read_document(z.read(name))
    assert demo.type is DocumentType.FAERS and demo.records
    assert {"primaryid", "caseid", "caseversion"} <= set(demo.records[0])


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=2, max_value=400))
def test_chunks_cover_the_text_and_keep_offsets(text: str, size: int) -> None:
    chunks = list(intake.chunk(text, size))
    assert "".join(c.text for c in chunks) == text
    for piece in chunks:
        assert 0 < len(piece.text) <= size
        assert text[piece.start:piece.start + len(piece.text)] == piece.text


def test_chunks_end_on_sentence_breaks() -> None:
    text = REPORT * 20
    pieces = list(intake.chunk(text, 200))
    assert all(piece.text.endswith("。") for piece in pieces[:-1])
