"""What the load test knows without Locust or gRPC: its user classes, the request-name
convention that ties every stat to the class that made it, the pass rule, the texts it
sends and the loopback-only rule.

The locustfile (in-process check when Locust quits) and check_report (check of the CSV
report) both import the rule from here, so the two checks cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

# One class per caller profile and network domain, plus callers that must be turned away.
USER_CLASSES: Final = ("InternetBusinessUser", "ExtranetBusinessUser", "IntranetReviewerUser",
                       "IntranetAuditorUser", "IntranetSreUser", "UnauthorizedMixUser")
DEFAULT_MIN_REQUESTS: Final = 200
# A run stops at --run-time or once each class made this many requests, whichever is first.
DEFAULT_MAX_REQUESTS: Final = 20_000
# Pacing per simulated user (task runs per second): a business system's steady traffic,
# and well under the gateways' default per-caller rate limit (200/s), so that a
# RESOURCE_EXHAUSTED in the report means something changed, not that the test overran.
DEFAULT_USER_RATE: Final = 10.0

REPO: Final = Path(__file__).resolve().parent.parent
CORPUS: Final = REPO / "services" / "classify" / "corpus" / "seed.jsonl"
DEFAULT_REPORT_DIR: Final = REPO / "load" / "report"
REPORT_PREFIX: Final = "zhijian"


def stat_name(user_class: str, method: str, scenario: str) -> str:
    """``InternetBusinessUser Classify [refused: resident id]``: the class first, so the
    report can be summed per class; the scenario last, so expected refusals are visible."""
    return f"{user_class} {method} [{scenario}]"


def user_class_of(name: str) -> str:
    return name.split(" ", 1)[0]


@dataclass(frozen=True)
class Tally:
    requests: int = 0
    failures: int = 0


def tally(rows: Iterable[tuple[str, int, int]]) -> dict[str, Tally]:
    """(request name, requests, failures) rows -> totals per user class."""
    totals: dict[str, Tally] = {}
    for name, requests, failures in rows:
        owner = user_class_of(name)
        seen = totals.get(owner, Tally())
        totals[owner] = Tally(seen.requests + requests, seen.failures + failures)
    return totals


def problems(totals: Mapping[str, Tally], expected: Sequence[str], min_requests: int
             ) -> list[str]:
    """Why the run fails; empty when every class made ``min_requests`` and no request
    ended in a status its scenario did not expect."""
    found = []
    for name in expected:
        seen = totals.get(name, Tally())
        if seen.requests < min_requests:
            found.append(f"{name} made {seen.requests} requests, fewer than {min_requests}")
    for name, seen in sorted(totals.items()):
        if seen.failures:
            found.append(f"{name}: {seen.failures} requests ended in an unexpected status")
    unknown = sorted(set(totals) - set(expected))
    if unknown:
        found.append(f"requests of unknown user classes: {', '.join(unknown)}")
    return found


@cache
def corpus_texts(path: Path = CORPUS) -> tuple[str, ...]:
    """Product names and descriptions of the seed corpus: what applicants actually write.
    All of it is public; a detector firing on one of them shows up as an unexpected
    refusal, which is the over-classification the platform must not do."""
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            texts.append(str(json.loads(line)["text"]))
    if not texts:
        raise ValueError(f"{path} holds no texts")
    return tuple(texts)


_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_number(rng: random.Random) -> str:
    """A checksum-valid resident ID number that is nobody's: region codes 99xxxx are not
    assigned to any place, while the detector checks only the date and the check digit."""
    birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = f"99{rng.randint(0, 9999):04d}{birth}{rng.randint(0, 999):03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
                          % 11]
    return first17 + check


def mobile_number(rng: random.Random) -> str:
    """A mainland mobile number from the 19x range with a random subscriber part."""
    return f"19{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


def require_loopback(host: str) -> str:
    """``host`` if it is a loopback address (or a name that resolves only to loopback);
    the load test never generates load against another machine."""
    bare = host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None:
        if not address.is_loopback:
            raise ValueError(f"{host!r} is not a loopback address; the load test runs "
                             "against this machine only")
        return bare
    if bare not in LOOPBACK_NAMES:
        raise ValueError(f"{host!r} is not a loopback name; use 127.0.0.1")
    addresses = {str(info[4][0]) for info in socket.getaddrinfo(bare, None)}
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValueError(f"{host!r} resolves to {sorted(addresses)}, not only to loopback")
    return bare
