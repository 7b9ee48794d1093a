"""Data-level detection: one table mapping each detector to the data level its finding
implies. Services take the higher of the declared level and the detected one, and refuse
above the ceiling before any model sees the text.

Findings carry the detector and the span, never the matched text: what a detector found
is exactly what must not reach a log, a span or a ledger.

Public regulatory text must not be over-classified: a manufacturer's hotline on a label,
a company e-mail address or the word 秘密 inside 商业秘密 are not findings. The tests run
every detector over real FDA labels and NMPA notices and expect none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from zhijian.types.v1 import ai_result_pb2 as types_pb

# Above every data level: documents marked as state secrets are refused everywhere
# (classified systems are out of scope of the platform).
CLASSIFIED = 99

L1, L2, L3 = (types_pb.DATA_LEVEL_L1_PUBLIC, types_pb.DATA_LEVEL_L2_GENERAL,
              types_pb.DATA_LEVEL_L3_IMPORTANT)


@dataclass(frozen=True)
class Detector:
    name: str
    level: int
    pattern: re.Pattern[str]
    # A second look at a match (a checksum, say) that the pattern alone cannot express.
    confirm: Callable[[re.Match[str]], bool] = lambda match: True


@dataclass(frozen=True)
class Finding:
    detector: str
    level: int
    start: int
    end: int


@dataclass(frozen=True)
class Detection:
    level: int  # the highest level found; L1 when nothing was found
    findings: tuple[Finding, ...]

    @property
    def classified(self) -> bool:
        return self.level >= CLASSIFIED

    def detectors(self) -> list[str]:
        return sorted({f.detector for f in self.findings})


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_valid(number: str) -> bool:
    """GB 11643-1999: the 18th character is a checksum over the first 17 digits, and the
    birth date in positions 7-14 must be a plausible date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    if not (1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_valid(code: str) -> bool:
    """GB 32100-2015: 18 characters from a 31-symbol alphabet with a mod-31 check."""
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS,
                                                          strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31] == code[17]


# Product and batch numbers of eleven digits can look like a mobile number; the label
# before them says what they are.
_CODE_LABELS = re.compile(r"(?:UPC|EAN|GTIN|NDC|SKU|lot|batch|serial|catalog|model|ref|"
                          r"批号|货号|条码|编号|型号|序列号)\W{0,3}$", re.IGNORECASE)


def _not_a_product_code(match: re.Match[str]) -> bool:
    before = match.string[max(0, match.start() - 12):match.start()]
    return _CODE_LABELS.search(before) is None


# Mail services individuals use; an address there is a person's, not a company's.
PERSONAL_MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn",
                         "sohu.com", "foxmail.com", "139.com", "189.cn", "aliyun.com",
                         "gmail.com", "hotmail.com", "outlook.com", "live.com", "yahoo.com",
                         "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com")

DETECTORS: tuple[Detector, ...] = (
    Detector("classification_marking", CLASSIFIED,
             # The marking form (绝密★, 机密★五年, 秘密★), not the word inside 商业秘密.
             re.compile(r"(?:绝密|机密|(?<!商业)(?<!技术)秘密)\s*★")),
    Detector("resident_id_number", L3,
             re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[0-9Xx](?![0-9A-Za-z])"),
             lambda m: resident_id_valid(m.group())),
    Detector("personal_mobile_number", L3,
             # Mainland mobile numbers (1[3-9]x), optionally +86, not inside longer digit runs.
             re.compile(r"(?<![0-9A-Za-z+])(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
                        r"(?![0-9A-Za-z])"),
             _not_a_product_code),
    Detector("personal_email", L3,
             re.compile(r"[A-Za-z0-9._%+-]+@(" + "|".join(re.escape(d) for d in
                                                          PERSONAL_MAIL_DOMAINS) + r")\b",
                        re.IGNORECASE)),
    Detector("patient_identifier", L3,
             re.compile(r"(?:患者姓名|病人姓名|病历号|住院号|门诊号|就诊卡号|医保卡号)\s*[:：]\s*\S"
                        r"|\b(?:patient name|MRN|medical record (?:number|no\.?))\s*[:#]\s*\S",
                        re.IGNORECASE)),
    Detector("unified_social_credit_code", L2,
             re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}"
                        r"(?![0-9A-Z])"),
             lambda m: credit_code_valid(m.group())),
)


def detect(text: str) -> Detection:
    findings = [Finding(d.name, d.level, m.start(), m.end())
                for d in DETECTORS for m in d.pattern.finditer(text) if d.confirm(m)]
    level = max((f.level for f in findings), default=L1)
    return Detection(level, tuple(sorted(findings, key=lambda f: f.start)))


# ---------------------------------------------------------------------------------------
# Declared levels
# ---------------------------------------------------------------------------------------

# ``L1``..``L4`` and the ``DATA_LEVEL_*`` enum names, as callers and trailers spell levels.
LEVELS_BY_NAME: Final[Mapping[str, int]] = {
    "L1": types_pb.DATA_LEVEL_L1_PUBLIC, "L2": types_pb.DATA_LEVEL_L2_GENERAL,
    "L3": types_pb.DATA_LEVEL_L3_IMPORTANT, "L4": types_pb.DATA_LEVEL_L4_CORE,
    **{name: value for name, value in types_pb.DataLevel.items()
       if value != types_pb.DATA_LEVEL_UNSPECIFIED}}


def declared_level(raw: str) -> int:
    """The ``x-zhijian-data-level`` a caller declared; empty means undeclared. The gateway
    and every service read it alike, so no hop can take a level another refused."""
    from zhijian import metadata as md
    from zhijian.errors import invalid_field

    text = raw.strip()
    if not text:
        return types_pb.DATA_LEVEL_UNSPECIFIED
    level = LEVELS_BY_NAME.get(text.upper() if len(text) == 2 else text)
    if level is None:
        raise invalid_field(md.DATA_LEVEL, f"unknown data level {text[:20]!r}; use L1-L4",
                            reason="UNKNOWN_DATA_LEVEL")
    return level
