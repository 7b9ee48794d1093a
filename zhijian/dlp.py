"""Data-level detection: one table mapping each detector to the data level its finding
implies. Services take the higher of the declared level and the detected one, and refuse
above the ceiling before any model sees the text.

Findings carry the detector and the span, never the matched text: what a detector found
is exactly what must not reach a log, a span or a ledger.

Detectors read the text in the form ``zhijian.textnorm`` gives it (width folded, format
characters removed, every digit system in ASCII, identifier-shaped digit groups joined),
since the model reads through those rewritings too; spans are mapped back to the
caller's text. Patterns are RE2, so no input makes them backtrack, and what a pattern
cannot say without lookaround (what may stand before or after a match, a checksum) is
each detector's confirm step. A service scans through :func:`detect_texts`, which keeps
large inputs off the event loop and refuses a request that exceeds its CPU budget rather
than serving it unscanned.

Public regulatory text must not be over-classified: a manufacturer's hotline on a label,
a company e-mail address or the word 秘密 inside 商业秘密 are not findings. The tests run
every detector over the real public records in ../shared/datasets and expect none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import re2

from zhijian.errors import ResourceExhausted
from zhijian.textnorm import Normalized, Shape, normalize
from zhijian.types.v1 import ai_result_pb2 as types_pb

# Above every data level: documents marked as state secrets are refused everywhere
# (classified systems are out of scope of the platform).
CLASSIFIED = 99

L1, L2, L3 = (types_pb.DATA_LEVEL_L1_PUBLIC, types_pb.DATA_LEVEL_L2_GENERAL,
              types_pb.DATA_LEVEL_L3_IMPORTANT)

BUDGET_EXCEEDED = "DETECTION_BUDGET_EXCEEDED"
# CPU seconds one request may spend on detection. Linear patterns make the worst input
# cost a small multiple of ordinary text (``python -m bench dlp``); the budget is
# what stops a request far larger than any service's own size limits anticipate.
DEFAULT_BUDGET_S = 3.0
# Below this many characters in a request, scanning takes well under a millisecond and
# runs inline; above it, in a worker thread.
INLINE_CHARS = 16_384


# A detector's second look at a match of its pattern in the normalised text: what stands
# around it, a checksum, anything RE2 cannot express.
Confirm = Callable[[str, int, int], bool]


@dataclass(frozen=True)
class Detector:
    name: str
    level: int
    pattern: re2._Regexp
    confirm: Confirm = lambda text, start, end: True


@dataclass(frozen=True)
class Finding:
    detector: str
    level: int
    start: int  # in the text as the caller sent it
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


class DetectionBudgetExceeded(ResourceExhausted):
    default_reason = BUDGET_EXCEEDED


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id_valid(number: str) -> bool:
    """GB 11643-1999: the 18th character is a checksum over the first 17 digits, and the
    birth date in positions 7-14 must be a plausible date."""
    if len(number) != 18 or not number[:17].isdigit() or not number[:17].isascii():
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


def mobile_number_shaped(digits: str) -> bool:
    """A mainland mobile number: 11 digits, 1 then 3-9."""
    return len(digits) == 11 and digits.isdigit() and digits[0] == "1" and digits[1] in "3456789"


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _apart(text: str, start: int, end: int, before: frozenset[str] = _ALNUM,
           after: frozenset[str] = _ALNUM) -> bool:
    """Nothing of ``before`` just before the match and nothing of ``after`` just after:
    an identifier inside a longer code is not that identifier."""
    return ((start == 0 or text[start - 1] not in before)
            and (end == len(text) or text[end] not in after))


# Product and batch numbers of eleven digits can look like a mobile number; the label
# before them says what they are.
_CODE_LABELS = re2.compile(r"(?i)(?:UPC|EAN|GTIN|NDC|SKU|lot|batch|serial|catalog|model|ref|"
                           r"批号|货号|条码|编号|型号|序列号)[^0-9A-Za-z_]{0,3}$")
_MOBILE_BEFORE = _ALNUM | {"+"}


def _mobile(text: str, start: int, end: int) -> bool:
    # "+86…" is matched whole; any other "+" before the number makes it a longer one.
    if not _apart(text, start, end, before=_MOBILE_BEFORE):
        return False
    return _CODE_LABELS.search(text[max(0, start - 12):start]) is None


def _resident_id(text: str, start: int, end: int) -> bool:
    return _apart(text, start, end) and resident_id_valid(text[start:end])


_USCC_NEAR = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _credit_code(text: str, start: int, end: int) -> bool:
    return (_apart(text, start, end, before=_USCC_NEAR, after=_USCC_NEAR)
            and credit_code_valid(text[start:end]))


_NOT_A_MARKING_BEFORE = ("商业", "技术")


def _marking(text: str, start: int, end: int) -> bool:
    # 秘密★ is a marking; 商业秘密 and 技术秘密 are the words for trade secrets, and a
    # star after them is decoration, not a classification.
    if not text.startswith("秘", start):
        return True
    return not text[:start].rstrip().endswith(_NOT_A_MARKING_BEFORE)


# Mail services individuals use; an address there is a person's, not a company's.
PERSONAL_MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn",
                         "sohu.com", "foxmail.com", "139.com", "189.cn", "aliyun.com",
                         "gmail.com", "hotmail.com", "outlook.com", "live.com", "yahoo.com",
                         "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com")

DETECTORS: tuple[Detector, ...] = (
    Detector("classification_marking", CLASSIFIED,
             # The marking form (绝密★, 机密★五年, 秘密★), spaced or not.
             re2.compile(r"(?:绝\s*密|机\s*密|秘\s*密)\s*[★☆]"), _marking),
    Detector("resident_id_number", L3, re2.compile(r"[1-9][0-9]{16}[0-9Xx]"), _resident_id),
    Detector("personal_mobile_number", L3,
             # Mainland mobile numbers (1[3-9]x), optionally +86; groups already joined.
             re2.compile(r"(?:\+?86)?1[3-9][0-9]{9}"), _mobile),
    Detector("personal_email", L3,
             re2.compile(r"(?i)[a-z0-9._%+-]+@(?:"
                         + "|".join(re2.escape(d) for d in PERSONAL_MAIL_DOMAINS) + r")\b")),
    Detector("patient_identifier", L3,
             re2.compile(r"(?i)(?:患者姓名|病人姓名|病历号|住院号|门诊号|就诊卡号|医保卡号)\s*[:：]\s*\S"
                         r"|\b(?:patient name|MRN|medical record (?:number|no\.?))\s*[:#]\s*\S")),
    Detector("unified_social_credit_code", L2,
             re2.compile(r"[0-9A-HJ-NP-RTUW-Y]{2}[0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}"),
             _credit_code),
)


def _mobile_window(joined: str, sizes: Sequence[int]) -> bool:
    # 1-800-438-1985 is a North American number written the North American way.
    return mobile_number_shaped(joined) and list(sizes) != [1, 3, 3, 4]


# Which windows of digit groups the normaliser joins: the identifiers above that people
# type in groups ("110105 19491231 002X", "138 0013 8000", "+86 139-1234-5678").
GROUP_SHAPES: tuple[Shape, ...] = (
    Shape(frozenset({18}), lambda joined, sizes: resident_id_valid(joined)),
    Shape(frozenset({11}), _mobile_window),
    Shape(frozenset({13}), lambda joined, sizes: joined.startswith("86")
          and mobile_number_shaped(joined[2:])),
)


class _Budget:
    """CPU time of the scanning thread, checked between passes."""

    def __init__(self, seconds: float | None, cancelled: threading.Event | None = None) -> None:
        self._limit = None if seconds is None else time.thread_time() + seconds
        self._seconds = seconds
        self._cancelled = cancelled

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled.is_set():
            raise asyncio.CancelledError
        if self._limit is not None and time.thread_time() > self._limit:
            raise DetectionBudgetExceeded(
                f"scanning this request for personal data and markings took more than its "
                f"budget of {self._seconds:g} s of CPU; it was not served unscanned — send "
                "smaller requests", metadata={"budget_s": f"{self._seconds:g}"})


def _scan(text: str, budget: _Budget) -> Detection:
    seen: Normalized = normalize(text, GROUP_SHAPES)
    budget.check()
    findings = []
    for detector in DETECTORS:
        for match in detector.pattern.finditer(seen.text):
            start, end = match.start(), match.end()
            if detector.confirm(seen.text, start, end):
                first, last = seen.original_span(start, end)
                findings.append(Finding(detector.name, detector.level, first, last))
        budget.check()
    level = max((f.level for f in findings), default=L1)
    return Detection(level, tuple(sorted(findings, key=lambda f: f.start)))


def detect(text: str) -> Detection:
    """Every finding in ``text``, unbudgeted: for tests, tools and small trusted inputs."""
    return _scan(text, _Budget(None))


def _scan_all(texts: Sequence[str], budget_s: float | None,
              cancelled: threading.Event | None) -> list[Detection]:
    budget = _Budget(budget_s, cancelled)
    return [_scan(text, budget) for text in texts]


@functools.cache
def _scanner() -> concurrent.futures.ThreadPoolExecutor:
    # One per process, as many threads as cores: a flood of large requests queues here
    # (bounded by each call's deadline) instead of taking the event loop's time.
    return concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2,
                                                 thread_name_prefix="zhijian-dlp")


async def detect_texts(texts: Sequence[str], *,
                       budget_s: float = DEFAULT_BUDGET_S) -> list[Detection]:
    """Findings of each text of one request, within one CPU budget for all of them.

    Raises :class:`DetectionBudgetExceeded` (``RESOURCE_EXHAUSTED`` /
    ``DETECTION_BUDGET_EXCEEDED``) when the budget runs out: a request is never served
    unscanned."""
    if sum(len(t) for t in texts) <= INLINE_CHARS:
        return _scan_all(texts, budget_s, None)
    cancelled = threading.Event()
    future = asyncio.get_running_loop().run_in_executor(_scanner(), _scan_all, list(texts),
                                                        budget_s, cancelled)
    try:
        return await future
    except asyncio.CancelledError:
        cancelled.set()  # the worker stops at its next check instead of scanning on
        raise


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
