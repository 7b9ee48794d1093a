"""Throughput of the data-level detectors, and what the worst inputs cost.

    python -m bench dlp          # part of `make bench`

Prints, from one run on this machine: the detectors' throughput in MB/s (UTF-8) on real
public text from ../shared/datasets (or on a built-in ordinary text when it is absent),
then for each worst case the scan time per MB as a ratio to that ordinary text and to
the floor, one RE2 pass of a pattern that never matches over the same input; and the
CPU time of the worst classify batch against the default budget. Not a test: nothing
here passes or fails.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import re2

from zhijian.dlp import DEFAULT_BUDGET_S, detect

# One of each thing that is expensive for some part of the scan, each at the largest
# size classify accepts (4,000 characters): the attack's digit run, grouped digits for
# the identifier windows, a local part with no domain for the e-mail pattern, zero-width
# and full-width characters for the fold, separators everywhere, valid mobiles (a
# finding every twelve characters), and CJK text with nothing to change.
WORST_CASES: dict[str, str] = {
    "digit run": "1" * 4000,
    "single-digit groups": "1 " * 2000,
    "at signs": "a@" * 2000,
    "zero-width between digits": "\u200b1" * 2000,
    "full-width digits": "１" * 4000,
    "mixed separators": ("1-2.3 4" * 572)[:4000],
    "a mobile every 12 chars": ("13800138000 " * 334)[:4000],
    "one CJK character": "秘" * 4000,
}
# The largest classify batch (256 items), cycling through the worst cases.
WORST_BATCH: list[str] = [list(WORST_CASES.values())[i % len(WORST_CASES)] for i in range(256)]

ORDINARY = ("一次性使用无菌注射器，由外套、芯杆、活塞和针头组成，供抽吸液体或注射用。"
            "Indications: for the relief of minor aches and pains. Store at 20-25 °C. "
            "批号 20230115，有效期至 2025-01-14。NDC 0002-3227-30. ")

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def public_text() -> tuple[str, str]:
    """(what it is, the text): real labels, notices and narratives where available."""
    parts = []
    labels = DATASETS / "fda_drug_labels" / "spl"
    if labels.is_dir():
        parts += [" ".join(ElementTree.parse(p).getroot().itertext())
                  for p in sorted(labels.glob("*.xml"))]
    notices = DATASETS / "nmpa_classification_determinations" / "determinations.jsonl"
    if notices.is_file():
        parts += [" ".join(v for v in json.loads(line).values() if isinstance(v, str))
                  for line in notices.read_text(encoding="utf-8").splitlines() if line.strip()]
    vaers = DATASETS / "vaers_1990" / "1990VAERSDATA.csv"
    if vaers.is_file():
        parts.append(vaers.read_bytes().decode("latin-1"))
    if not parts:
        return "built-in ordinary text (../shared/datasets absent)", ORDINARY * 20_000
    return "FDA labels, NMPA notices, VAERS 1990 reports", "\n".join(parts)


def _seconds(work: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs: the least disturbed by the rest of the machine."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _repeated(scan: Callable[[str], object], text: str) -> None:
    for _ in range(20):
        scan(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    detect("１")  # builds the normaliser's table once, outside every timing

    what, corpus = public_text()
    megabytes = len(corpus.encode()) / 1e6
    elapsed = _seconds(lambda: detect(corpus), args.repeat)
    print(f"public text: {what}, {megabytes:.1f} MB: {megabytes / elapsed:.1f} MB/s")

    never = re2.compile("\x00never\x00")
    ordinary = (ORDINARY * 40)[:4000]
    ordinary_per_mb = (_seconds(lambda: [detect(ordinary) for _ in range(50)], args.repeat)
                       / (50 * len(ordinary.encode()) / 1e6))
    print(f"ordinary text, 4,000 characters: {1 / ordinary_per_mb:.1f} MB/s")
    print(f"{'worst case (4,000 characters)':32} {'ms':>7} {'MB/s':>7} "
          f"{'× ordinary':>11} {'× floor':>9}")
    for name, text in WORST_CASES.items():
        size = len(text.encode()) / 1e6
        scan = _seconds(functools.partial(_repeated, detect, text), args.repeat) / 20
        floor = _seconds(functools.partial(_repeated, never.search, text), args.repeat) / 20
        print(f"{name:32} {scan * 1e3:7.2f} {size / scan:7.1f} "
              f"{scan / size / ordinary_per_mb:11.1f} {scan / floor:9.0f}")
    started = time.thread_time()
    for text in WORST_BATCH:
        detect(text)
    cpu = time.thread_time() - started
    print(f"worst classify batch (256 × 4,000 characters): {cpu:.2f} s of CPU, "
          f"{cpu / DEFAULT_BUDGET_S:.0%} of the default budget of {DEFAULT_BUDGET_S:g} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
