"""Dataset files as the registry and the validation runner see them.

A dataset is a UTF-8 JSON Lines file, one object per line with a non-empty ``text``.
The registry pins its SHA-256 and record count at registration; the validation runner
checks the same digest before use and hashes every record's normalised text to detect
test records that also occur in training data.

Lines are split on ``\\n`` only (``\\r\\n`` is tolerated): counting and parsing must
agree, and ``str.splitlines`` would also split on characters such as U+2028 that may
legitimately occur inside a JSON string.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
_WHITESPACE = re.compile(r"\s+")


class DatasetError(ValueError):
    """The file cannot be used as a dataset; the message names the file and the line."""


def dataset_digest(path: Path | str) -> tuple[str, int]:
    """SHA-256 of the file bytes and the number of non-blank lines (records)."""
    path = Path(path)
    digest = hashlib.sha256()
    records = 0
    try:
        with path.open("rb") as handle:
            # Iterating a binary file yields b"\n"-terminated lines: the same split as
            # parse_records uses, so the count is the number of records it returns.
            for line in handle:
                digest.update(line)
                if line.strip():
                    records += 1
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    return digest.hexdigest(), records


def parse_records(data: bytes, source: str) -> list[dict[str, Any]]:
    """Records of JSONL bytes; ``source`` names the file in error messages."""
    return list(_iter_records(data, source))


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Every record of a JSONL dataset file, in file order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    return parse_records(data, str(path))


def _iter_records(data: bytes, source: str) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DatasetError(f"{source}:{number}: not UTF-8: {error.reason}") from None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{source}:{number}: not JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{source}:{number}: expected a JSON object")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{source}:{number}: 'text' must be a non-empty string")
        yield record


def normalize_text(text: str) -> str:
    """The form two texts share when they differ only in width, case or spacing, so
    that a copy with cosmetic edits still counts as the same record."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE.sub(" ", folded).strip()


def record_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text; the unit of the train/test overlap check."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
