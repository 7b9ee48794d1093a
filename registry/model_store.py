"""The registry's side of MLflow: what a version is, its artifact hashes, and the
protected aliases and ``zhijian.*`` tags, which only the registry writes.

Every call is bounded and fails as ``UNAVAILABLE`` (reason ``MLFLOW_UNAVAILABLE``) when
MLflow cannot be reached, so a write that needs MLflow fails before anything is stored; a
value MLflow refuses is ``INVALID_ARGUMENT`` (``MLFLOW_INVALID_PARAMETER``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from zhijian.artifacts import ArtifactDigest, hash_tree
from zhijian.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

PROTECTED_ALIASES = ("production", "canary")
TAG_PREFIX = "zhijian."
T = TypeVar("T")


@dataclass(frozen=True)
class VersionInfo:
    model: str
    version: str
    run_id: str
    model_uri: str
    signature_json: str


@dataclass(frozen=True)
class StoredFiles:
    digests: list[ArtifactDigest]
    dependencies: list[tuple[str, ...]]  # (name, version) pins from requirements.txt


@dataclass(frozen=True)
class ModelState:
    """Protected aliases and zhijian.* tags of one registered model, as MLflow has them."""

    aliases: dict[str, str]  # alias -> version
    tags: dict[str, dict[str, str]]  # version -> zhijian.* tags


def _bounded_http() -> None:
    # MLflow retries a refused connection for minutes by default; a registry call must
    # answer within its deadline instead.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


class ModelStore:
    def __init__(self, tracking_uri: str) -> None:
        _bounded_http()
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _call(self, what: str, fn: Callable[[], T], *,
              missing: str = "MODEL_VERSION_NOT_FOUND") -> T:
        """``missing``: the reason when MLflow has no such thing, naming what is missing."""
        from mlflow.exceptions import MlflowException

        try:
            with contextlib.redirect_stdout(sys.stderr):
                return fn()
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"MLflow has no {what}", reason=missing,
                               metadata={"what": what}) from None
            if error.error_code == "INVALID_PARAMETER_VALUE":
                # MLflow answered: it refuses a value (a model name with ':' or '/'),
                # which came from the caller; retrying cannot help, as UNAVAILABLE says.
                raise InvalidArgument(f"MLflow refuses {what}: {error.message[:200]}",
                                      reason="MLFLOW_INVALID_PARAMETER",
                                      metadata={"what": what}) from None
            raise Unavailable(f"MLflow could not be used for {what}: {error.message[:200]}",
                              reason="MLFLOW_UNAVAILABLE") from None
        except (OSError, ConnectionError) as error:
            raise Unavailable(f"MLflow is unreachable ({what}): {error.__class__.__name__}",
                              reason="MLFLOW_UNAVAILABLE") from None

    def describe_version(self, model: str, version: str) -> VersionInfo:
        def describe() -> VersionInfo:
            found = self._client.get_model_version(model, version)
            signature = ""
            with contextlib.suppress(Exception):
                from mlflow.models import get_model_info

                info = get_model_info(f"models:/{model}/{version}")
                if info.signature is not None:
                    signature = json.dumps(info.signature.to_dict(), sort_keys=True)
            return VersionInfo(model, version, found.run_id or "", f"models:/{model}/{version}",
                               signature)
        return self._call(f"model version {model}/{version}", describe)

    def ping(self, model: str) -> None:
        """One cheap read: is MLflow up, and does it know the model? A registered model
        that is missing is the state of MLflow, not a resource the caller named:
        FAILED_PRECONDITION."""
        try:
            self._call(f"registered model {model}",
                       lambda: self._client.get_registered_model(model),
                       missing="REGISTERED_MODEL_NOT_FOUND")
        except NotFound:
            raise FailedPrecondition(f"MLflow has no registered model {model}",
                                     reason="MODEL_NOT_REGISTERED",
                                     metadata={"model": model}) from None

    @contextlib.contextmanager
    def download(self, model: str, version: str) -> Iterator[Path]:
        """The version's files in a temporary folder: the MLflow model root (with MLmodel)."""
        import mlflow

        with tempfile.TemporaryDirectory(prefix="zhijian-artifacts-") as scratch:
            path = self._call(f"artifacts of {model}/{version}", lambda: mlflow.artifacts
                              .download_artifacts(artifact_uri=f"models:/{model}/{version}",
                                                  dst_path=scratch,
                                                  tracking_uri=self.tracking_uri))
            yield Path(path)

    def stored_files(self, model: str, version: str) -> StoredFiles:
        """Hashes of every file of the version and the pinned requirements it declares,
        from one download."""
        with self.download(model, version) as root:
            requirements = root / "requirements.txt"
            pinned = requirements.read_text().splitlines() if requirements.is_file() else []
            return StoredFiles(hash_tree(root), [tuple(line.strip().split("==", 1))
                                                 for line in pinned if "==" in line])

    def set_version_tags(self, model: str, version: str, tags: dict[str, str]) -> None:
        def write() -> None:
            for key, value in tags.items():
                self._client.set_model_version_tag(model, version, key, value)
        self._call(f"tags of {model}/{version}", write)

    def delete_version_tag(self, model: str, version: str, key: str) -> None:
        self._call(f"tags of {model}/{version}",
                   lambda: self._client.delete_model_version_tag(model, version, key))

    def set_alias(self, model: str, alias: str, version: str | None) -> None:
        def write() -> None:
            if version is None:
                with contextlib.suppress(Exception):
                    self._client.delete_registered_model_alias(model, alias)
            else:
                self._client.set_registered_model_alias(model, alias, version)
        self._call(f"alias {alias} of {model}", write)

    def model_state(self, model: str) -> ModelState:
        def read() -> ModelState:
            registered = self._client.get_registered_model(model)
            aliases = {a: str(v) for a, v in (registered.aliases or {}).items()
                       if a in PROTECTED_ALIASES}
            tags: dict[str, dict[str, str]] = {}
            for found in self._client.search_model_versions(f"name = '{model}'"):
                own = {k: v for k, v in (found.tags or {}).items() if k.startswith(TAG_PREFIX)}
                tags[str(found.version)] = own
            return ModelState(aliases, tags)
        return self._call(f"registered model {model}", read,
                          missing="REGISTERED_MODEL_NOT_FOUND")
