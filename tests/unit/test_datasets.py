"""Dataset file helpers: digest and record count, strict parsing, normalised record hashes,
and the one way every reader opens a dataset file (under the roots, regular files only,
size-limited). Real files, FIFOs, links and devices in a temporary root."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from registry.datasets import (
    NOT_ALLOWED,
    NOT_REGULAR_FILE,
    SCHEME_UNSUPPORTED,
    TOO_LARGE,
    UNREADABLE,
    URI_INVALID,
    DatasetAccess,
    DatasetAccessError,
    DatasetError,
    normalize_text,
    parse_records,
    read_dataset,
    record_hash,
    scan_dataset,
)

pytestmark = pytest.mark.timeout(30)  # a regression that blocks on a FIFO must fail, not hang


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _access(root: Path, max_bytes: int = 1 << 20) -> DatasetAccess:
    return DatasetAccess.of([root], max_bytes)


def dataset_digest(path: Path) -> tuple[str, int]:
    scan = scan_dataset(str(path), _access(path.parent), check_records=False)
    return scan.sha256, scan.records


def read_records(path: Path) -> list[dict[str, object]]:
    scan_dataset(str(path), _access(path.parent))  # the registration check must agree
    return parse_records(read_dataset(str(path), _access(path.parent)), str(path))


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


def test_a_missing_file_under_the_root_is_unreadable(tmp_path: Path) -> None:
    for read in (read_records, dataset_digest):
        with pytest.raises(DatasetAccessError) as raised:
            read(tmp_path / "absent.jsonl")
        assert raised.value.reason == UNREADABLE
        assert "cannot be read" in raised.value.message


def test_streaming_agrees_with_parsing_across_chunk_boundaries(tmp_path: Path) -> None:
    # Lines longer than a read chunk (1 MiB), and a last line without its newline.
    long = json.dumps({"text": "长" * 700_000}, ensure_ascii=False)
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([long, "", '{"text": "b"}', long, '{"text": "end"}']),
                    encoding="utf-8")
    access = _access(tmp_path, 1 << 24)
    scan = scan_dataset(str(path), access)
    data = path.read_bytes()
    assert scan.sha256 == hashlib.sha256(data).hexdigest()
    assert scan.records == len(parse_records(data, "d")) == 4
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([long, "", long[:-1]]), encoding="utf-8")
    with pytest.raises(DatasetError, match=":3: not JSON"):
        scan_dataset(str(bad), access)


# --- where a dataset may be read from -----------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.jsonl").write_text('{"text": "secret"}\n')
    _write(tmp_path / "root" / "sub" / "ok.jsonl", ['{"text": "ok"}'])
    return tmp_path / "root"


def _refusal(uri: str, access: DatasetAccess) -> DatasetAccessError:
    with pytest.raises(DatasetAccessError) as raised:
        read_dataset(uri, access)
    with pytest.raises(DatasetAccessError) as scanned:
        scan_dataset(uri, access)
    assert (scanned.value.reason, scanned.value.message) == (raised.value.reason,
                                                             raised.value.message)
    return raised.value


def test_a_file_under_the_root_is_read_by_path_or_file_uri(root: Path) -> None:
    path = root / "sub" / "ok.jsonl"
    for uri in (str(path), f"file://{path}", f"{root}//sub/./ok.jsonl"):
        assert read_dataset(uri, _access(root)) == path.read_bytes()


def test_everything_out_of_the_roots_gets_one_answer(root: Path) -> None:
    outside = root.parent / "outside"
    (root / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (root / "dangling.jsonl").symlink_to(outside / "absent.jsonl")
    (root / "inner-link.jsonl").symlink_to(root / "sub" / "ok.jsonl")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "up").symlink_to(root.parent, target_is_directory=True)
    probes = [str(outside / "secret.jsonl"), str(outside / "absent.jsonl"), "/etc/passwd",
              "/dev/zero", f"{root}-sibling/x.jsonl", f"{root}/../outside/secret.jsonl",
              f"{root}/sub/../sub/ok.jsonl", str(root / "link.jsonl"),
              str(root / "dangling.jsonl"), str(root / "inner-link.jsonl"),
              str(root / "linked" / "secret.jsonl"), str(root / "linked" / "absent.jsonl"),
              str(root / "sub" / "up" / "outside" / "secret.jsonl")]
    answers = {(e.reason, e.message) for e in (_refusal(uri, _access(root)) for uri in probes)}
    assert len(answers) == 1
    reason, message = answers.pop()
    assert reason == NOT_ALLOWED
    assert str(root) not in message and "outside" not in message


def test_a_path_outside_is_decided_without_touching_it(root: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    touched: list[object] = []

    def record(*args: object, **kwargs: object) -> int:
        touched.append(args)
        raise AssertionError("a file system call on a path outside the roots")

    monkeypatch.setattr(os, "open", record)
    monkeypatch.setattr(os, "stat", record)
    monkeypatch.setattr(os, "lstat", record)
    with pytest.raises(DatasetAccessError):
        read_dataset(str(root.parent / "outside" / "secret.jsonl"), _access(root))
    assert touched == []


def test_a_fifo_is_refused_without_waiting_for_a_writer(root: Path) -> None:
    os.mkfifo(root / "pipe.jsonl")
    assert _refusal(str(root / "pipe.jsonl"), _access(root)).reason == NOT_REGULAR_FILE


def test_devices_and_folders_under_a_root_are_not_regular_files(root: Path) -> None:
    assert _refusal("/dev/zero", _access(Path("/dev"))).reason == NOT_REGULAR_FILE
    assert _refusal("/dev/null", _access(Path("/dev"))).reason == NOT_REGULAR_FILE
    assert _refusal(str(root / "sub"), _access(root)).reason == NOT_REGULAR_FILE
    assert _refusal(str(root), _access(root)).reason == NOT_REGULAR_FILE


def test_a_file_over_the_limit_is_refused_before_reading(root: Path) -> None:
    big = root / "big.jsonl"
    big.write_bytes(b'{"text": "x"}\n' * 100)
    assert _refusal(str(big), _access(root, big.stat().st_size - 1)).reason == TOO_LARGE
    assert read_dataset(str(big), _access(root, big.stat().st_size)) == big.read_bytes()


def test_a_file_that_grows_while_it_is_read_is_cut_off(root: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    grows = root / "grows.jsonl"
    grows.write_bytes(b'{"text": "x"}\n' * 10)
    limit = grows.stat().st_size + 5
    real_fstat = os.fstat

    def fstat_then_append(fd: int) -> os.stat_result:
        seen = real_fstat(fd)  # within the limit when looked at ...
        with grows.open("ab") as writer:  # ... and a writer appends right after
            writer.write(b'{"text": "more"}\n' * 1000)
        return seen

    monkeypatch.setattr(os, "fstat", fstat_then_append)
    assert _refusal(str(grows), _access(root, limit)).reason == TOO_LARGE


@pytest.mark.parametrize(("uri", "reason"), [
    ("s3://bucket/train.jsonl", SCHEME_UNSUPPORTED),
    ("https://example.org/train.jsonl", SCHEME_UNSUPPORTED),
    ("relative/train.jsonl", URI_INVALID),
    ("file:relative.jsonl", URI_INVALID),
    ("file://host/relative.jsonl", URI_INVALID),
    ("/root/with\x00nul.jsonl", URI_INVALID),
    ("", URI_INVALID),
])
def test_uris_that_are_not_absolute_local_paths(root: Path, uri: str, reason: str) -> None:
    assert _refusal(uri, _access(root)).reason == reason


def test_roots_must_be_absolute_and_the_limit_positive() -> None:
    with pytest.raises(ValueError, match="absolute"):
        DatasetAccess.of(["datasets"])
    with pytest.raises(ValueError, match="positive"):
        DatasetAccess.of(["/data"], 0)
    assert DatasetAccess.of(["/data/", "/data", "/x/../y"]).roots == ("/data", "/y")


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
