"""Dataset file helpers: digest and record count, strict parsing, normalised record hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry.datasets import (
    DatasetError,
    dataset_digest,
    normalize_text,
    read_records,
    record_hash,
)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_digest_is_the_sha256_of_the_bytes_and_counts_non_blank_lines(tmp_path: Path) -> None:
    records = [json.dumps({"text": f"注射器 {i}"}, ensure_ascii=False) for i in range(3)]
    path = _write(tmp_path / "d.jsonl", [records[0], "", records[1], "   ", records[2], ""])

    sha256, count = dataset_digest(path)

    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert count == 3
    assert len(read_records(path)) == count


def test_digest_changes_with_one_byte(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", ['{"text": "syringe"}'])
    second = _write(tmp_path / "b.jsonl", ['{"text": "syringE"}'])
    assert dataset_digest(first)[0] != dataset_digest(second)[0]


def test_records_come_back_in_file_order_with_their_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", ['{"text": "b", "product_category": "drug"}',
                                         '{"text": "a", "product_category": null}'])
    assert read_records(path) == [{"text": "b", "product_category": "drug"},
                                  {"text": "a", "product_category": None}]


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text": "b"}\r\n')
    assert [r["text"] for r in read_records(path)] == ["a", "b"]
    assert dataset_digest(path)[1] == 2


@pytest.mark.parametrize(("bad_line", "complaint"), [
    ("{not json", "not JSON"),
    ('["text"]', "expected a JSON object"),
    ('{"label": "drug"}', "'text' must be a non-empty string"),
    ('{"text": "   "}', "'text' must be a non-empty string"),
    ('{"text": 12}', "'text' must be a non-empty string"),
])
def test_bad_records_are_reported_with_their_line_number(tmp_path: Path, bad_line: str,
                                                         complaint: str) -> None:
    # Line 3 is the bad one: the blank line 2 still counts as a line of the file.
    path = _write(tmp_path / "d.jsonl", ['{"text": "ok"}', "", bad_line])
    with pytest.raises(DatasetError) as raised:
        read_records(path)
    assert f"{path}:3:" in str(raised.value)
    assert complaint in str(raised.value)


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "\xff"}\n')
    with pytest.raises(DatasetError, match=r":2: not UTF-8"):
        read_records(path)


def test_a_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        read_records(tmp_path / "absent.jsonl")
    with pytest.raises(DatasetError, match="cannot read"):
        dataset_digest(tmp_path / "absent.jsonl")


def test_normalisation_folds_width_case_and_whitespace() -> None:
    assert normalize_text("  Ｓｙｒｉｎｇｅ\t５ ML \n") == "syringe 5 ml"
    assert normalize_text("一次性使用　注射器") == "一次性使用 注射器"  # ideographic space


def test_record_hash_is_equal_for_cosmetic_variants_only() -> None:
    assert record_hash("Sterile Syringe, 5 mL") == record_hash(" sterile  SYRINGE, 5 ml")
    assert record_hash("Sterile Syringe, 5 mL") == record_hash("Ｓｔｅｒｉｌｅ Syringe, 5 mL")
    assert record_hash("Sterile Syringe, 5 mL") != record_hash("Sterile Syringe, 10 mL")


def test_record_hash_is_the_sha256_of_the_normalised_utf8_text() -> None:
    expected = hashlib.sha256("一次性使用 注射器".encode()).hexdigest()
    assert record_hash(" 一次性使用   注射器 ") == expected
