"""Document intake: the bytes a caller sends, as text the extract models can read.

Every document becomes a :class:`Document`: its type, the text (offsets into it are what
every extracted span refers to), how it was decoded, and for row formats the rows as
records. Nothing is guessed silently: the encoding used is named in the document, and a
document that cannot be decoded, parsed or read is refused with a stable reason
(``INVALID_ARGUMENT`` / ``UNDECODABLE_DOCUMENT``, ``FAILED_PRECONDITION`` /
``NO_TEXT_LAYER`` and so on) instead of reaching a model as mojibake.

- Text: UTF-8 (with or without BOM), UTF-16 with BOM, else the candidates of
  ``ENCODINGS`` by charset-normalizer, accepted only if the bytes decode strictly and
  the result reads as text.
- PDF: the text layer (pypdf), pages joined with a form feed; a scan without one is
  ``NO_TEXT_LAYER``; an encrypted file is ``PDF_ENCRYPTED``.
- XML (ICH E2B(R3) ICSRs): decoded by the encoding its prolog declares, parsed with
  defusedxml, DTDs, entity declarations and
  external references refused, each with its own reason.
- VAERS CSV and FAERS ``$``-delimited rows: one record per row, a malformed row named by
  its line.

Long texts are cut into chunks on line or sentence boundaries, each with its offset in
the whole text, so a model that reads chunk by chunk still answers in document offsets.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from xml.etree.ElementTree import Element, ParseError

from zhijian.errors import FailedPrecondition, InvalidArgument

MAX_DOCUMENT_BYTES: Final = 8 * 1024 * 1024
MAX_PDF_PAGES: Final = 500
CHUNK_CHARS: Final = 4000
# What charset-normalizer may choose between when a document is not UTF-8: the encodings
# Chinese and international case reports arrive in. GBK is a subset of GB18030.
ENCODINGS: Final = ("gb18030", "utf_16_le", "utf_16_be", "big5")
# Above this share of replacement, control or private-use characters a decoding is not
# text, whichever encoding "won".
MAX_NOISE: Final = 0.02

UNDECODABLE_DOCUMENT: Final = "UNDECODABLE_DOCUMENT"
DOCUMENT_TOO_LARGE: Final = "DOCUMENT_TOO_LARGE"
DOCUMENT_EMPTY: Final = "DOCUMENT_EMPTY"
NO_TEXT_LAYER: Final = "NO_TEXT_LAYER"
PDF_ENCRYPTED: Final = "PDF_ENCRYPTED"
UNREADABLE_PDF: Final = "UNREADABLE_PDF"
MALFORMED_XML: Final = "MALFORMED_XML"
XML_DTD_FORBIDDEN: Final = "XML_DTD_FORBIDDEN"
XML_ENTITIES_FORBIDDEN: Final = "XML_ENTITIES_FORBIDDEN"
XML_EXTERNAL_REFERENCE_FORBIDDEN: Final = "XML_EXTERNAL_REFERENCE_FORBIDDEN"
MALFORMED_ROW: Final = "MALFORMED_ROW"

_BOMS: Final = ((codecs.BOM_UTF8, "utf_8_sig"), (codecs.BOM_UTF16_LE, "utf_16"),
                (codecs.BOM_UTF16_BE, "utf_16"))
FAERS_DELIMITER: Final = "$"


class DocumentType(enum.Enum):
    TEXT = "text"
    PDF = "pdf"
    E2B = "e2b"  # ICH E2B(R3) ICSR XML
    VAERS = "vaers"  # VAERSDATA CSV
    FAERS = "faers"  # FAERS / legacy AERS quarterly ASCII, `$`-delimited


@dataclass(frozen=True)
class Chunk:
    start: int  # offset of the chunk's first character in Document.text
    text: str


@dataclass(frozen=True)
class Document:
    type: DocumentType
    text: str
    encoding: str  # how the bytes were decoded ("pdf-text-layer" for a PDF)
    records: Sequence[Mapping[str, str]] = ()  # rows of a row format, header-keyed
    root: Element | None = field(default=None, compare=False)  # parsed XML

    def chunks(self, size: int = CHUNK_CHARS) -> Iterator[Chunk]:
        yield from chunk(self.text, size)


def read_document(data: bytes, declared: DocumentType | None = None) -> Document:
    """The document in ``data``, of the declared type or the one its bytes show."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidArgument(f"the document is {len(data)} bytes; the limit is "
                              f"{MAX_DOCUMENT_BYTES}", reason=DOCUMENT_TOO_LARGE,
                              metadata={"limit_bytes": str(MAX_DOCUMENT_BYTES)})
    if not data.strip():
        raise InvalidArgument("the document is empty", reason=DOCUMENT_EMPTY)
    kind = declared or sniff(data)
    if kind is DocumentType.PDF:
        return Document(kind, pdf_text(data), "pdf-text-layer")
    if kind is DocumentType.E2B:
        text, encoding = decode_xml(data)
        return Document(kind, text, encoding, root=parse_xml(text))
    text, encoding = decode(data)
    if kind is DocumentType.VAERS:
        return Document(kind, text, encoding, records=rows(text, ","))
    if kind is DocumentType.FAERS:
        return Document(kind, text, encoding, records=rows(text, FAERS_DELIMITER))
    return Document(kind, text, encoding)


def sniff(data: bytes) -> DocumentType:
    """The type the bytes show: PDF magic, an XML prolog or element, a VAERS or FAERS
    header; anything else is text."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-"):
        return DocumentType.PDF
    if head.startswith(b"<"):
        return DocumentType.E2B
    first_line = head.split(b"\n", 1)[0].strip().upper()
    if first_line.startswith(b"VAERS_ID,"):
        return DocumentType.VAERS
    if FAERS_DELIMITER.encode() in first_line and (b"PRIMARYID" in first_line
                                                   or b"ISR$" in first_line):
        return DocumentType.FAERS
    return DocumentType.TEXT


# --- text and encodings ---------------------------------------------------------------------

def decode(data: bytes) -> tuple[str, str]:
    """The text and the name of the encoding it was decoded with."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data, encoding), encoding.removesuffix("_sig").replace("_", "-")
    try:
        return _checked(data.decode("utf-8"), "utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(ENCODINGS)).best()
    if best is None:
        raise _undecodable("it is not UTF-8 and no candidate encoding "
                           f"({', '.join(ENCODINGS)}) decodes it")
    return _strict(data, best.encoding), best.encoding.replace("_", "-")


_XML_ENCODING: Final = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def decode_xml(data: bytes) -> tuple[str, str]:
    """XML text decoded by the encoding its prolog declares (GB18030 included, which
    the XML parser itself cannot read), else as any other text."""
    declared = _XML_ENCODING.match(data.removeprefix(codecs.BOM_UTF8))
    if declared is None:
        return decode(data)
    name = declared.group(1).decode("ascii")
    try:
        codecs.lookup(name)
    except LookupError:
        raise _undecodable(f"the XML declares encoding {name!r}, which is not known") from None
    return _strict(data, name), name.lower()


def _strict(data: bytes, encoding: str) -> str:
    try:
        return _checked(data.decode(encoding), encoding)
    except UnicodeDecodeError as error:
        raise _undecodable(f"byte {error.start} is not valid {encoding}") from None


def _checked(text: str, encoding: str) -> str:
    noise = sum(1 for c in text if c == "\ufffd"
                or (unicodedata.category(c) in ("Cc", "Co", "Cs") and c not in "\t\n\r\f"))
    if text and noise / len(text) > MAX_NOISE:
        raise _undecodable(f"decoded as {encoding} it is {noise} of {len(text)} characters "
                           "of control or replacement characters, not text")
    return text


def _undecodable(why: str) -> InvalidArgument:
    return InvalidArgument(f"the document cannot be decoded: {why}",
                           reason=UNDECODABLE_DOCUMENT)


# --- PDF ------------------------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    """The text layer of every page, pages separated by a form feed."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise FailedPrecondition("the PDF is encrypted; send it decrypted",
                                     reason=PDF_ENCRYPTED)
        if len(reader.pages) > MAX_PDF_PAGES:
            raise InvalidArgument(f"the PDF has {len(reader.pages)} pages; the limit is "
                                  f"{MAX_PDF_PAGES}", reason=DOCUMENT_TOO_LARGE)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise InvalidArgument(f"the PDF cannot be read: {error}", reason=UNREADABLE_PDF) from None
    text = "\f".join(page.strip("\n") for page in pages)
    if not text.replace("\f", "").strip():
        raise FailedPrecondition(
            f"the PDF's {len(pages)} page(s) have no text layer (a scan?); send a PDF with "
            "text or the text itself", reason=NO_TEXT_LAYER)
    return text


# --- XML ------------------------------------------------------------------------------------

def parse_xml(data: str | bytes) -> Element:
    """The XML root. Entity declarations (the billion-laughs expansion), external
    entities (a file or URL read on the sender's behalf) and any DTD are refused, each
    with its own reason: the first two by a parse that allows a DTD but none of its
    entities, the last by one that allows no DTD at all."""
    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
    from defusedxml.ElementTree import fromstring

    try:
        fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        root: Element = fromstring(data, forbid_dtd=True)
    except EntitiesForbidden as error:
        if error.sysid or error.pubid:
            raise InvalidArgument(
                f"the XML declares external entity {error.name!r} ({error.sysid or error.pubid}); "
                "nothing outside the document is read", reason=XML_EXTERNAL_REFERENCE_FORBIDDEN
            ) from None
        raise InvalidArgument(f"the XML declares entity {error.name!r}; entity declarations "
                              "are refused (entity expansion)",
                              reason=XML_ENTITIES_FORBIDDEN) from None
    except ExternalReferenceForbidden as error:
        raise InvalidArgument(f"the XML refers to {error.sysid or error.pubid}; nothing "
                              "outside the document is read",
                              reason=XML_EXTERNAL_REFERENCE_FORBIDDEN) from None
    except DTDForbidden as error:
        where = f" ({error.sysid})" if error.sysid else ""
        raise InvalidArgument(f"the XML declares a DTD{where}, which is neither fetched nor "
                              "accepted: E2B(R3) messages are checked against their schema",
                              reason=XML_DTD_FORBIDDEN) from None
    except (ParseError, ValueError) as error:
        raise InvalidArgument(f"the XML is malformed: {error}", reason=MALFORMED_XML) from None
    return root


# --- rows -----------------------------------------------------------------------------------

def rows(text: str, delimiter: str) -> list[dict[str, str]]:
    """Header-keyed records; a row with more cells than the header is refused by line."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE if delimiter == FAERS_DELIMITER
                        else csv.QUOTE_MINIMAL)
    try:
        header = [name.strip().lower() for name in next(reader)]
        # FAERS lines, the header too, end with the delimiter: one empty cell more.
        while header and not header[-1]:
            header.pop()
        records = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            while len(cells) > len(header) and not cells[-1]:
                cells.pop()
            if len(cells) > len(header):
                raise InvalidArgument(
                    f"line {reader.line_num}: {len(cells)} cells, the header has "
                    f"{len(header)}", reason=MALFORMED_ROW,
                    metadata={"line": str(reader.line_num)})
            records.append(dict(zip(header, cells + [""] * (len(header) - len(cells)),
                                    strict=True)))
    except csv.Error as error:
        raise InvalidArgument(f"line {reader.line_num}: {error}", reason=MALFORMED_ROW,
                              metadata={"line": str(reader.line_num)}) from None
    return records


# --- chunks ---------------------------------------------------------------------------------

_BREAKS: Final = ("\n\n", "\n", "。", ". ", "；", "; ", "，", ", ", " ")


def chunk(text: str, size: int = CHUNK_CHARS) -> Iterator[Chunk]:
    """Consecutive pieces of at most ``size`` characters that together are ``text``,
    cut after the strongest break in the second half of each window."""
    if size < 2:
        raise ValueError("chunks need at least two characters")
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[start:end]
            for mark in _BREAKS:
                cut = window.rfind(mark, size // 2)
                if cut >= 0:
                    end = start + cut + len(mark)
                    break
        yield Chunk(start, text[start:end])
        start = end

