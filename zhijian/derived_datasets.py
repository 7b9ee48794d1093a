"""Datasets made from another file, with what it takes to check how they were made.

A public file rarely fits a task type's record schema as it is (the NMPA determinations
have a product name and a description, not a ``text``; PHEE annotates events, not
spans), so a service converts it. :func:`derive` writes the converted JSONL and returns
the :class:`Derivation` to register it with (``Dataset.derived_from``): the source file
and its SHA-256, and the transform and the SHA-256 of the module that defines it. The
registry hashes the source again at registration, and anyone holding the same file and
the same transform code can rebuild the dataset byte for byte.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Transform = Callable[[Path], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Derivation:
    source_uri: str
    source_sha256: str
    transform: str  # "module.function"
    transform_sha256: str
    records: int

    def fields(self) -> dict[str, str]:
        """The fields of ``registry.v1.DatasetDerivation``."""
        return {"source_uri": self.source_uri, "source_sha256": self.source_sha256,
                "transform": self.transform, "transform_sha256": self.transform_sha256}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def transform_sha256(transform: Transform) -> str:
    """SHA-256 of the source of the module defining ``transform``: a change anywhere in
    the code it is written with gives another digest."""
    module = inspect.getmodule(transform)
    if module is None or getattr(module, "__file__", None) is None:
        raise ValueError(f"{transform!r} is not defined in a module file")
    return file_sha256(Path(str(module.__file__)))


def derive(source: Path, transform: Transform, out: Path) -> Derivation:
    """Write ``transform(source)`` to ``out`` as JSONL (atomically) and say how it was
    made."""
    source = source.resolve()
    before = file_sha256(source)
    partial = out.with_name(out.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8") as handle:
        for record in transform(source):
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    if file_sha256(source) != before:
        partial.unlink()
        raise RuntimeError(f"{source} changed while the dataset was derived from it")
    os.replace(partial, out)
    return Derivation(str(source), before, f"{transform.__module__}.{transform.__qualname__}",
                      transform_sha256(transform), count)
