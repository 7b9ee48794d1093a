"""Dataset files as the registry and the validation runner see them.

A dataset is a UTF-8 JSON Lines file, one object per line with a non-empty ``text``.
The registry pins its SHA-256 and record count at registration; the validation runner
checks the same digest before use and hashes every record's normalised text to detect
test records that also occur in training data.

Lines are split on ``\\n`` only (``\\r\\n`` is tolerated): counting and parsing must
agree, and ``str.splitlines`` would also split on characters such as U+2028 that may
legitimately occur inside a JSON string.

Where a dataset may be read from: a path (or ``file://`` URI, no percent-decoding) under
one of the configured dataset roots, with no ``..`` and no symbolic link on the way, to a
regular file of at most ``max_bytes``. Every reader — registration, the re-hash at
filing submission, the validation runner — opens it with ``open_dataset`` and reads the
descriptor it returns, never the path again, so the checks hold for the bytes read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

_CHUNK = 1 << 20
_WHITESPACE = re.compile(r"\s+")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
FILE_PREFIX: Final = "file://"
# Far above any corpus this platform trains on (the seed corpus is 157 kB, all of the
# real-data sets together 15 MB), low enough that the runner, which parses a dataset in
# memory, stays within a small machine's RAM.
DEFAULT_MAX_BYTES: Final = 256 * 1024 * 1024

# What the reasons disclose. Outside the roots: nothing — one reason and one message,
# decided on the text of the path (or, for a link, without following it), so a caller
# cannot learn whether a file exists there. Under a root the reasons differ (not a
# regular file, too large, unreadable — which includes "no such file"): they tell a
# caller who may register datasets what is at a path under a root. That is accepted:
# the roots hold data put there to be registered, and such a caller learns a file's hash
# and size anyway by registering it; an operator who cares keeps nothing else there.
URI_INVALID: Final = "DATASET_URI_INVALID"
SCHEME_UNSUPPORTED: Final = "DATASET_URI_SCHEME_UNSUPPORTED"
NOT_ALLOWED: Final = "DATASET_URI_NOT_ALLOWED"
NOT_REGULAR_FILE: Final = "DATASET_NOT_REGULAR_FILE"
TOO_LARGE: Final = "DATASET_TOO_LARGE"
UNREADABLE: Final = "DATASET_UNREADABLE"

# The one answer for every path the roots do not admit (outside them, through '..',
# through a symbolic link). It names neither the path nor the roots, and it is decided
# without following anything out of a root, so it is the same whether or not the path
# exists out there.
NOT_ALLOWED_MESSAGE: Final = ("must name a file under one of the registry's dataset roots, "
                              "by a path without '..' and not through a symbolic link")

_DIRECTORY_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the type check opens at once instead of waiting for
# a writer (fstat then refuses it); O_NOCTTY: a terminal never becomes ours.
_FILE_FLAGS: Final = (os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
                      | os.O_NOCTTY)


class DatasetError(ValueError):
    """The file cannot be used as a dataset; the message names the file and the line."""


class DatasetAccessError(Exception):
    """The file may not, or cannot, be read as a dataset. ``reason`` is the stable cause
    (one of the module's reason constants); ``message`` never names anything outside the
    dataset roots."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _not_allowed() -> DatasetAccessError:
    return DatasetAccessError(NOT_ALLOWED, NOT_ALLOWED_MESSAGE)


def _not_regular() -> DatasetAccessError:
    return DatasetAccessError(NOT_REGULAR_FILE, "is not a regular file")


def _too_large(max_bytes: int) -> DatasetAccessError:
    return DatasetAccessError(TOO_LARGE, f"is larger than the limit of {max_bytes} bytes")


def _unreadable(error: OSError) -> DatasetAccessError:
    return DatasetAccessError(UNREADABLE, f"cannot be read: {error.strerror or error}")


def dataset_file_path(uri: str) -> str:
    """The absolute path a dataset URI names: a path, or ``file://`` and a path. Other
    schemes are refused here, before any root is considered."""
    if "\x00" in uri:
        raise DatasetAccessError(URI_INVALID, "must not contain a NUL character")
    path = uri
    if uri.startswith(FILE_PREFIX):
        path = uri[len(FILE_PREFIX):]
    elif (scheme := _SCHEME.match(uri)) and scheme.group(1).lower() != "file":
        raise DatasetAccessError(SCHEME_UNSUPPORTED, f"scheme {scheme.group(1)}: is not "
                                 "supported; datasets are read from file:// URIs or "
                                 "absolute paths only")
    if not path.startswith("/"):
        raise DatasetAccessError(URI_INVALID, "must be an absolute path or a file:// URI")
    return path


@dataclass(frozen=True)
class DatasetAccess:
    """Where dataset files may be read from, and how large they may be."""

    roots: tuple[str, ...]  # absolute, normalised
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def of(cls, roots: Iterable[str | os.PathLike[str]],
           max_bytes: int = DEFAULT_MAX_BYTES) -> DatasetAccess:
        normalised = []
        for root in roots:
            text = os.fspath(root)
            if not os.path.isabs(text):
                raise ValueError(f"dataset root {text!r} is not an absolute path")
            normalised.append(os.path.normpath(text))
        if max_bytes <= 0:
            raise ValueError(f"the dataset size limit must be positive, got {max_bytes}")
        return cls(tuple(dict.fromkeys(normalised)), max_bytes)

    def locate(self, uri: str) -> tuple[str, tuple[str, ...]]:
        """The root a URI's path lies under and the names below it, from the text alone:
        a path outside every root is refused without any file system call on it."""
        names = tuple(n for n in dataset_file_path(uri).split("/") if n not in ("", "."))
        if ".." in names:
            raise _not_allowed()
        # Matched as configured, not resolved: a root that is itself a link is named by
        # its configured path (and nothing here blocks on the file system).
        best: tuple[str, int] | None = None
        for root in self.roots:
            prefix = tuple(n for n in root.split("/") if n)
            if names[:len(prefix)] == prefix and (best is None or len(prefix) > best[1]):
                best = (root, len(prefix))
        if best is None:
            raise _not_allowed()
        return best[0], names[best[1]:]


def open_dataset(uri: str, access: DatasetAccess) -> int:
    """A read-only descriptor of the regular file ``uri`` names under a root; the caller
    closes it. Raises ``DatasetAccessError``.

    The path is walked one name at a time from the root's descriptor (``openat`` with
    O_NOFOLLOW for every component) rather than checked with realpath + commonpath and
    then opened: a check on the path followed by an open of the path leaves a window in
    which a directory on it can be replaced by a symbolic link leading out of the root,
    whereas a walk by descriptors never resolves a link at all. It refuses links that
    stay inside a root too: telling those apart would mean following them.
    """
    root, names = access.locate(uri)
    if not names:
        raise _not_regular()  # the root itself, a directory
    try:
        # The root's own path is configuration, trusted as it stands (links included).
        current = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise _unreadable(error) from None
    try:
        for name in names[:-1]:
            try:
                step = os.open(name, _DIRECTORY_FLAGS, dir_fd=current)
            except OSError as error:
                raise _walk_error(current, name, error) from None
            os.close(current)
            current = step
        return _open_file(current, names[-1], access.max_bytes)
    finally:
        os.close(current)


def _is_link(parent: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _walk_error(parent: int, name: str, error: OSError) -> DatasetAccessError:
    # O_DIRECTORY | O_NOFOLLOW reports a symbolic link as ENOTDIR, not ELOOP: look.
    if error.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(parent, name):
        return _not_allowed()
    return _unreadable(error)


def _open_file(parent: int, name: str, max_bytes: int) -> int:
    try:
        seen = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError as error:
        raise _unreadable(error) from None
    if stat.S_ISLNK(seen.st_mode):
        raise _not_allowed()
    # Not even opened unless it is a regular file: opening a FIFO, a device or a socket
    # can block or have effects of its own.
    if not stat.S_ISREG(seen.st_mode):
        raise _not_regular()
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since the look
            raise _not_allowed() from None
        raise _unreadable(error) from None
    try:
        # What was opened is what counts: the name may point elsewhere by now.
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _not_regular()
        if opened.st_size > max_bytes:
            raise _too_large(max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _chunks(fd: int, max_bytes: int) -> Iterator[bytes]:
    """The descriptor's bytes; a file that grew past the limit since fstat is refused
    after at most one byte over it."""
    read = 0
    while chunk := os.read(fd, min(_CHUNK, max_bytes + 1 - read)):
        read += len(chunk)
        if read > max_bytes:
            raise _too_large(max_bytes)
        yield chunk


def read_dataset(uri: str, access: DatasetAccess) -> bytes:
    """The whole file, for a reader that needs the records (the validation runner)."""
    fd = open_dataset(uri, access)
    try:
        return b"".join(_chunks(fd, access.max_bytes))
    except OSError as error:
        raise _unreadable(error) from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class DatasetScan:
    sha256: str  # of the file's bytes
    records: int  # non-blank lines


def require_text(record: dict[str, Any]) -> None:
    """The schema of text-classification records (and the check used where no task type
    is named): a non-empty ``text``."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("'text' must be a non-empty string")


# Raises ValueError saying what is wrong with one parsed record.
RecordCheck = Callable[[dict[str, Any]], None]


def scan_dataset(uri: str, access: DatasetAccess, *, check_records: bool = True,
                 check: RecordCheck = require_text) -> DatasetScan:
    """Digest and record count, read as a stream so that the registry never holds a
    whole dataset in memory; with ``check_records`` every record is parsed and checked
    against ``check`` as well (``DatasetError`` names the first bad line)."""
    fd = open_dataset(uri, access)
    digest = hashlib.sha256()
    records = number = 0
    pending: list[bytes] = []  # the line the last chunk ended inside, in pieces

    def line(raw: bytes) -> int:
        nonlocal number
        number += 1
        if not raw.strip():
            return 0
        if check_records:
            _record(raw, number, uri, check)
        return 1

    try:
        for chunk in _chunks(fd, access.max_bytes):
            digest.update(chunk)
            *complete, tail = chunk.split(b"\n")
            if complete:
                # Joined once per line, not once per chunk: a very long line stays linear.
                complete[0] = b"".join([*pending, complete[0]])
                pending = []
            records += sum(line(raw) for raw in complete)
            pending.append(tail)
        if rest := b"".join(pending):
            records += line(rest)
    except OSError as error:
        raise _unreadable(error) from None
    finally:
        os.close(fd)
    return DatasetScan(digest.hexdigest(), records)


def parse_records(data: bytes, source: str, check: RecordCheck = require_text
                  ) -> list[dict[str, Any]]:
    """Records of JSONL bytes; ``source`` names the file in error messages."""
    return [_record(raw, number, source, check)
            for number, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]


def _record(raw: bytes, number: int, source: str, check: RecordCheck) -> dict[str, Any]:
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
    try:
        check(record)
    except ValueError as error:
        raise DatasetError(f"{source}:{number}: {error}") from None
    return record


def normalize_text(text: str) -> str:
    """The form two texts share when they differ only in width, case or spacing, so
    that a copy with cosmetic edits still counts as the same record."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE.sub(" ", folded).strip()


def record_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text; the unit of the train/test overlap check."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
