"""Public regulatory text must not be over-classified: every detector over the real FDA
labels and NMPA classification notices in ../shared/datasets, false alarms kept at zero."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from zhijian.dlp import detect

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/datasets is not beside this checkout)")
    return path


def _alarms(texts: list[str]) -> list[tuple[str, str]]:
    """(detector, a few characters of context) for each finding. Public data, so the
    context may be printed to explain a failure."""
    alarms = []
    for text in texts:
        for finding in detect(text).findings:
            alarms.append((finding.detector, text[max(0, finding.start - 20):finding.end + 20]))
    return alarms


def test_no_alarm_on_nmpa_notices() -> None:
    path = _require(DATASETS / "nmpa_classification_determinations" / "determinations.jsonl")
    texts = [" ".join(v for v in json.loads(line).values() if isinstance(v, str))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(texts) > 1000
    assert _alarms(texts) == []


def test_no_alarm_on_fda_labels() -> None:
    folder = _require(DATASETS / "fda_drug_labels")
    labels = [" ".join(ElementTree.parse(p).getroot().itertext())
              for p in sorted((folder / "spl").glob("*.xml"))]
    records = [line for line in (folder / "ndc_harmonized.small.jsonl")
               .read_text(encoding="utf-8").splitlines() if line.strip()]
    assert labels and records
    assert sum(len(t) for t in labels) > 50_000  # whole labels, hotlines and addresses in
    assert _alarms(labels + records) == []


def test_no_alarm_on_recalls_and_device_records() -> None:
    texts = []
    for path in (DATASETS / "fda_recalls" / "enforcement_2012-06-13.jsonl",
                 DATASETS / "fda_device_classification" / "gudid_devices.jsonl"):
        texts += [line for line in _require(path).read_text(encoding="utf-8").splitlines()
                  if line.strip()]
    assert _alarms(texts) == []
