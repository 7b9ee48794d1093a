"""Files written whole or not at all: keys, identities, witnesses, tokens.

A reader never sees half a file, a crash never leaves one, and the rename is made durable
by syncing the directory too.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_file(path: Path, data: bytes, *, mode: int, exclusive: bool = False) -> None:
    """Write via a temporary file created with ``mode``, then put it in place. With
    ``exclusive``, a file already at ``path`` wins (FileExistsError): two processes
    racing to create a key end up with one key."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(temporary, path)
        else:
            os.replace(temporary, path)
        fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
