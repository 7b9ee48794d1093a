"""SHA-256 of model artifact files: what a filing pins and what loaders verify.

The registry hashes a version's files from MLflow at submission; the validation runner
and the model servers hash what they are about to load and refuse on any difference.
One function computes both sides, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20
# Written by MLflow into every models:/ download (and the BentoML import of one), but not
# stored with the version: the same version would hash differently depending on how it
# was fetched.
NOT_ARTIFACTS = frozenset({"registered_model_meta"})


@dataclass(frozen=True)
class ArtifactDigest:
    path: str  # relative to the model root, with "/" separators
    sha256: str
    size_bytes: int


class ArtifactMismatch(Exception):
    """What is on disk is not what the filing pinned; the message lists each difference."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(root: Path) -> list[ArtifactDigest]:
    """Every regular file under ``root``, in path order (MLflow's download metadata
    excepted)."""
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and p.relative_to(root).as_posix() not in NOT_ARTIFACTS)
    return [ArtifactDigest(p.relative_to(root).as_posix(), file_sha256(p), p.stat().st_size)
            for p in files]


def verify_tree(root: Path, expected: Iterable[ArtifactDigest]) -> None:
    """Raise ``ArtifactMismatch`` unless ``root`` holds exactly the expected files."""
    wanted = {a.path: a for a in expected}
    found = {a.path: a for a in hash_tree(root)}
    problems = []
    for path, artifact in sorted(wanted.items()):
        actual = found.get(path)
        if actual is None:
            problems.append(f"{path}: missing")
        elif actual.sha256 != artifact.sha256:
            problems.append(f"{path}: sha256 {actual.sha256[:12]}… differs from the filed "
                            f"{artifact.sha256[:12]}…")
    problems.extend(f"{path}: not in the filing" for path in sorted(set(found) - set(wanted)))
    if not wanted:
        problems.append("the filing pins no artifact")
    if problems:
        raise ArtifactMismatch(problems)
