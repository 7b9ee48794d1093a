"""Pools of hostile values, by what a field holds.

Which pool a string field draws from is decided from the descriptor alone (see
``fuzz.generate``): a resource reference gets names, a ``filter`` gets filter syntax, a
``uri`` gets paths, anything else the general pool. Every pool mixes plausible values
(so calls get past the first check and reach deeper code) with the classic breakers:
NUL and control characters, bidirectional overrides, unpaired-looking and astral
characters, injection strings, sizes just below and above every limit the protos name,
and a few that are far too big.

Deliberately absent: paths that never end when read (``/dev/zero``, ``/dev/urandom``,
FIFOs, ``/proc/kcore``). The registry reads a dataset's file whole (RegisterDataset);
sending one would exhaust the memory of the machine the platform shares with others, a
finding reported by review rather than by taking the machine down.
"""

from __future__ import annotations

from typing import Final

# Sizes around the limits in the protos and the server configuration: ids of 4-63
# characters, texts of 4000 (ZHIJIAN_CLASSIFY_MAX_TEXT_CHARS), record methods of 200.
_SIZES: Final = (63, 64, 200, 201, 4000, 4001, 65_536)
# One string of about a megabyte: over every field limit, under the 4 MiB message limit.
HUGE: Final = 1_000_000

_CONTROL: Final = (
    "\x00", "a\x00b", "\x00" * 64, "\x01\x02\x03\x04\x05\x06\x07\x08", "\x1b[31mred\x1b[0m",
    "\r\n", "line\nbreak", "\t", "\x7f", "\x85", "\u2028", "\u2029",
)
_UNICODE: Final = (
    "\u202eevil\u202c", "\u200b", "\ufeff", "\ufffe", "\uffff", "\U0010ffff", "𠀀𪚥",
    "e\u0301" * 50, "🧪🧫💊", "一次性使用无菌注射器", "ＡＢＣ１２３", "İı", "ß", "\u0000\u202e",
    "\ud7ff", "\ue000",
)
_INJECTION: Final = (
    "' OR '1'='1", "\"; DROP TABLE filings; --", "%s%s%n%x", "{0}{1}", "${jndi:ldap://127.0.0.1/a}",
    "<script>alert(1)</script>", "../../../../etc/passwd", "..\\..\\windows", "%00", "%2e%2e%2f",
    "*", "-", "_", "%", "\\", "/", "//", "null", "None", "undefined", "true", "NaN", "-1",
    "1e309", "0x7fffffff", "{}", "[]", "{\"a\":", "\"", "'", "`", "$(id)", "|", ";",
)
_PLAIN: Final = ("", " ", "   \t\n ", "a", "abc", "A", "zhijian", "fuzz", "L2", "zh", "en")

GENERAL: Final[tuple[str, ...]] = (
    *_PLAIN, *_CONTROL, *_UNICODE, *_INJECTION,
    *("a" * n for n in _SIZES), "界" * 4001, "a" * HUGE,
)

# AIP-160 filters: well-formed ones over real fields, and parser breakers.
FILTERS: Final[tuple[str, ...]] = (
    "", "state = FILING_STATE_APPROVED", 'identity.model = "zhijian-classify"',
    'identity.model = "x" AND state = FILING_STATE_DRAFT',
    'revalidate_time < "2026-01-01T00:00:00Z"',
    'revalidate_time < "not a time"', "state = 99", "state = FILING_STATE_NOPE", "nosuchfield = 1",
    'action = "call"', 'target = "filings/abc" AND action = "filing.approve"', "sequence > 5",
    "sequence > -9223372036854775808", "sequence > 99999999999999999999999",
    'create_time > "2026-01-01T00:00:00Z"', 'actor = "user:admin.li" OR actor = "x"',
    "network_domains: NETWORK_DOMAIN_INTERNET", "model = zhijian-classify",
    "NOT state = FILING_STATE_DRAFT", "state != FILING_STATE_DRAFT", "a = ", "= b", "AND", "OR OR",
    '"unterminated', "(state = FILING_STATE_DRAFT", "state = FILING_STATE_DRAFT)", "((((((((((",
    "(" * 5000 + "a = 1" + ")" * 5000, "a = 1 AND " * 2000 + "b = 2", "a.b.c.d.e = 1",
    "identity.model = \"\x00\"", "identity.model = '%'", "identity.model:*", "1 = 1",
    "' OR 1=1 --", "state = FILING_STATE_APPROVED;DELETE FROM filings", "\u202e", "a" * HUGE,
)
ORDER_BY: Final[tuple[str, ...]] = (
    "", "create_time desc", "revalidate_time", "filing_number", "create_time asc",
    "filing_number desc, create_time", "nosuchfield", "create_time sideways", "desc", ",",
    "create_time desc desc", "state; DROP TABLE filings", "a" * 4001,
)
PAGE_TOKENS: Final[tuple[str, ...]] = (
    "", "0", "1", "-1", "abc", "eyJvZmZzZXQiOiAxMH0=", "eyJvZmZzZXQiOiAtMX0", "AAAA", "====",
    "\x00", "%%%", "9" * 40, "a" * 4001, '{"offset": 1}',
)
# What an absolute path or URI field may meet (RegisterDataset reads the file it names).
URIS: Final[tuple[str, ...]] = (
    "", "relative/path.jsonl", "/nonexistent/file.jsonl", "file:///nonexistent.jsonl",
    "file://relative", "/", "/etc", "/etc/passwd", "/etc/hostname", "file:///etc/passwd",
    "/proc/self/status", "http://127.0.0.1:1/x.jsonl", "s3://bucket/key", "file:", "file://",
    "/tmp/../etc/passwd", "/\x00/etc/passwd", "//double/slash", "~/.ssh/id_rsa", "/" + "a" * 4096,
    "C:\\Windows\\win.ini",
)
LANGUAGES: Final[tuple[str, ...]] = (
    "", "zh", "en", "zh-CN", "en-US", "ZH", "fr", "xx", "zh_Hans", "und", "en-", "-", "a" * 200,
)
HEX: Final[tuple[str, ...]] = (
    "", "0" * 64, "f" * 64, "F" * 64, "g" * 64, "0" * 63, "0" * 65, "deadbeef", "z" * 64,
)
# Unknown ids of the right shape: pass a pattern check and then meet an empty table.
ABSENT_IDS: Final[tuple[str, ...]] = ("fuzz-absent", "fuzz-absent-0001", "zzzz", "a-b-c-d")
# Ids of the wrong shape, for the "{id}" parts of resource names.
BAD_IDS: Final[tuple[str, ...]] = (
    "", " ", "a", "abc", "A-UPPER", "a:b", "a/b", "a//b", "..", ".", "-", "*", "-leading",
    "trailing-", "a b", "a\tb", "a\nb", "a\x00b", "中文", "%2e%2e", "a" * 63, "a" * 64,
    "a" * 10_000, "a;b", "a?b=c", "a#b", "\u202e", "0000", "12345",
)

INT32_EDGES: Final[tuple[int, ...]] = (
    0, 1, -1, 2, 7, 50, 100, 101, 255, 256, 500, 501, 1000, 1001, 5000, 5001, 65_536,
    2**31 - 1, -(2**31), -(2**31) + 1, 2**30,
)
INT64_EDGES: Final[tuple[int, ...]] = (
    *INT32_EDGES, 2**32, 2**53 + 1, 2**63 - 1, -(2**63), 315_576_000_000, 315_576_000_001,
    253_402_300_799, 253_402_300_800, -62_135_596_800, -62_135_596_801,
)
UINT32_EDGES: Final[tuple[int, ...]] = (0, 1, 2, 100, 2**31, 2**32 - 1)
UINT64_EDGES: Final[tuple[int, ...]] = (*UINT32_EDGES, 2**63, 2**64 - 1)
# Nanosecond fields (Timestamp, Duration) are int32: these cross their valid range.
NANOS: Final[tuple[int, ...]] = (0, 1, -1, 999_999_999, 1_000_000_000, -1_000_000_000,
                                 2**31 - 1, -(2**31))
FLOATS: Final[tuple[float, ...]] = (
    0.0, -0.0, 1.0, -1.0, 0.5, 0.95, 1.0000001, 100.0, 1e-300, 5e-324, 1e308, -1e308,
    float("inf"), float("-inf"), float("nan"), 3.4028235e38,
)
UNKNOWN_ENUMS: Final[tuple[int, ...]] = (99, -1, 2**31 - 1, -(2**31), 1000)
BLOB_SIZES: Final[tuple[int, ...]] = (0, 1, 31, 32, 33, 63, 64, 65, 1024, 70_000)

# x-zhijian-data-level values a caller might send: the four levels, their near misses
# and garbage. Printable ASCII only: gRPC refuses anything else before it is sent.
DATA_LEVELS: Final[tuple[str, ...]] = (
    "L1", "L2", "L3", "L4", "l2", "l4", " L2 ", "L0", "L5", "L9", "L-1", "L", "2", "LL",
    "L2,L3", "L2 L3", "DATA_LEVEL_L2_GENERAL", "DATA_LEVEL_L4_CORE", "null", "*", "  ",
    "L99999999999999999999", "L" * 4000, "%00", "\\x00",
)
