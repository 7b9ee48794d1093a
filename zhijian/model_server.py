"""The governed model server: a BentoML service over the versions the registry allows.

The split follows KServe's ``Model`` / ``ModelServer``. A service supplies a
:class:`ServedModel` (how a verified copy of one MLflow version loads, and how it
predicts a batch of typed items) and a few lines that declare its BentoML service
(``services/classify/model_server.py`` is the example). Everything else is here and the
same for every service:

- At start it asks the registry (``GetDeployment``) which versions may serve in any
  network domain (production, canary, and previous if the deployment falls back to it),
  imports each from MLflow into the BentoML store (under ``BENTOML_HOME``), verifies every
  file against the SHA-256s pinned in the filing and only then loads it. A version whose
  files differ is never loaded. Afterwards it follows ``WatchDeployments`` (polling while
  the stream is down): promotions and canaries load; suspension, expiry and retirement
  stop a version answering at once.
- ``POST /predict`` takes ``{"items": [{..., "version": ...}, ...]}`` (adaptive batching
  merges requests) and answers one entry per item, in order: the prediction, or
  ``{"error": CODE, "version": ..., "detail": ...}`` where CODE is ``MODEL_NOT_SERVABLE``
  (the registry does not allow that version here now, or its artifacts were refused),
  ``MODEL_LOADING`` (allowed, not loaded yet) or ``SERVING_STATE_UNKNOWN`` (the registry
  has not been heard from for too long). The model server is the last line of defence: it
  answers with a version only if the registry's latest state lets it serve.
- One model server answers its service for callers of every network domain; the service
  chose each call's version for the caller's domain, so here a version serves if the
  registry lets it serve in some domain.
- Only the platform may call it: every route but the probes, ``/metrics`` and ``/info``
  answers HTTP 401 (``{"error": {"reason": "ASSERTION_MISSING" | "ASSERTION_INVALID" |
  "ASSERTION_DOMAIN_MISMATCH"}}``) unless the request carries a gateway's valid assertion
  (``x-zhijian-assertion`` bound to ``x-zhijian-request-id``), which the service forwards
  from its caller. ``/info`` stays open beside ``/metrics``: operational state (versions,
  filings, digests), no payload.
- ``/metrics`` counts items and times batches per model version
  (``zhijian_model_items_total{model, version, outcome}``,
  ``zhijian_model_predict_seconds{model, version}``), beside BentoML's own request metrics.

The server starts and reports ready even when no version is loadable (nothing deployed
yet, registry down, artifacts refused), so a later promotion can still load one; every
item is then refused as above, and ``/info`` shows why. Spans go to
``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import bentoml
import grpc
import numpy as np
from pydantic import BaseModel

from zhijian import metadata as md
from zhijian.artifacts import ArtifactDigest, ArtifactMismatch, verify_tree
from zhijian.config import env_str
from zhijian.deployment_watcher import (
    DEFAULT_REGISTRY_TARGET,
    DeploymentWatcher,
    ThreadedWatcher,
    token_file_from_env,
    token_from_file,
)
from zhijian.domains import NETWORK_DOMAINS
from zhijian.errors import ZhijianError
from zhijian.http_assertion import PROBE_PATHS, AssertionMiddleware
from zhijian.model_client import MODEL_LOADING, MODEL_NOT_SERVABLE
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.version_choice import (
    SERVING_STATE_UNKNOWN,
    DeployedVersion,
    Deployment,
    artifact_digests,
    artifacts_sha256,
    describe,
    filing_id,
    loadable_anywhere,
)

log = logging.getLogger("zhijian.model_server")

# BentoML's dispatcher answers 503 to requests it expects to miss ``max_latency_ms``, so
# it is a shedding threshold, not a wait: generous, or bursts get refused instead of
# batched. Pass as ``@bentoml.api(**BATCHING)`` on the service's ``predict``.
BATCHING: dict[str, Any] = {"batchable": True, "max_batch_size": 64, "max_latency_ms": 1000}

# Where bentoml.mlflow.import_model puts the MLflow model inside the BentoML model, and
# what bentoml.mlflow.load_model opens. Checked, not assumed: see mlflow_root().
BENTOML_MLFLOW_FOLDER = "mlflow_model"
MLMODEL_FILE = "MLmodel"
# How long start-up keeps asking an unreachable registry before starting empty (the
# watcher keeps trying and loads versions when the registry answers).
STARTUP_REGISTRY_WAIT_S = 30.0
FIRST_WATCH_STATE_WAIT_S = 10.0
# Also reconcile on a timer: unloads versions whose approval lapsed without a push and
# retries a load that failed for a passing reason (MLflow briefly down).
RECONCILE_INTERVAL_S = 30.0
# Routes answered without an assertion (see the module docstring).
OPEN_PATHS = PROBE_PATHS | {"/info"}


class PredictItem(BaseModel):
    """One item of ``/predict``: a service's item type adds its fields to ``version``."""

    version: str


ItemT = TypeVar("ItemT", bound=PredictItem)


class ServedModel(ABC, Generic[ItemT]):
    """One verified version of a service's model (KServe's ``Model``): ``load`` runs once
    the files match the filing; ``predict`` answers a batch of items of that version, one
    JSON-able answer per item, in order."""

    @classmethod
    @abstractmethod
    def load(cls, stored: bentoml.Model) -> ServedModel[ItemT]: ...

    @abstractmethod
    def predict(self, items: Sequence[ItemT]) -> list[dict[str, Any]]: ...


class PyfuncModel(ServedModel[ItemT]):
    """A model registered as an MLflow pyfunc: the service says how a batch becomes the
    pyfunc's input (``model_input``)."""

    def __init__(self, pyfunc: Any) -> None:
        self.pyfunc = pyfunc  # mlflow.pyfunc.PyFuncModel

    @classmethod
    def load(cls, stored: bentoml.Model) -> ServedModel[ItemT]:
        return cls(bentoml.mlflow.load_model(stored))

    @abstractmethod
    def model_input(self, items: Sequence[ItemT]) -> Any: ...

    def predict(self, items: Sequence[ItemT]) -> list[dict[str, Any]]:
        return list(self.pyfunc.predict(self.model_input(items)))


class TextItem(PredictItem):
    """An item that is one text: what most services send."""

    text: str


class TextPyfuncModel(PyfuncModel[TextItem]):
    """A pyfunc whose input is a batch of texts."""

    def model_input(self, items: Sequence[TextItem]) -> Any:
        # A str-dtype array, as in the signature's input example; object dtype fails it.
        return np.array([item.text for item in items], dtype=str)


def bento_tag(model_name: str, version: str) -> str:
    return f"{model_name}:v{version}"


def ensure_imported(model_name: str, version: str) -> bentoml.Model:
    """The BentoML copy of MLflow version ``version``, imported on first use."""
    try:
        return bentoml.models.get(bento_tag(model_name, version))
    except bentoml.exceptions.NotFound:
        return bentoml.mlflow.import_model(
            bento_tag(model_name, version), f"models:/{model_name}/{version}",
            labels={"mlflow_model": model_name, "mlflow_version": version},
            signatures={"predict": {"batchable": True}})


def mlflow_root(stored: bentoml.Model) -> Path:
    """The folder of the BentoML model that holds the MLflow model root (its ``MLmodel``).

    Filing artifact paths are relative to that root: the registry hashes a download of
    ``models:/name/version``, and the import moved that very download here. It must also
    be the folder ``bentoml.mlflow.load_model`` opens, or we would verify one thing and
    load another.
    """
    base = Path(stored.path)
    roots = sorted(p.parent for p in base.rglob(MLMODEL_FILE) if p.is_file())
    if len(roots) != 1:
        raise ArtifactMismatch([f"expected one MLflow model ({MLMODEL_FILE}) in {base}, "
                                f"found {len(roots)}"])
    loaded_from = Path(stored.path_of(BENTOML_MLFLOW_FOLDER))
    if roots[0] != loaded_from:
        raise ArtifactMismatch([f"the MLflow model is in {roots[0]}, but BentoML loads "
                                f"{loaded_from}"])
    return roots[0]


Pin = tuple[str, tuple[ArtifactDigest, ...]]


@dataclass(frozen=True)
class LoadedVersion:
    version: str
    filing_id: str
    filing_number: str
    artifacts: tuple[ArtifactDigest, ...]
    artifacts_sha256: str
    model: ServedModel[Any]

    @property
    def pin(self) -> Pin:
        return self.filing_id, self.artifacts


def pin_of(deployed: DeployedVersion) -> Pin:
    """What a loaded copy must match: the filing and the files it pins."""
    return filing_id(deployed), artifact_digests(deployed)


def verified_load(model_name: str, model_class: type[ServedModel[Any]],
                  deployed: DeployedVersion) -> LoadedVersion:
    """Import, verify against the filing, then load; ArtifactMismatch if the files differ."""
    stored = ensure_imported(model_name, deployed.version)
    expected = artifact_digests(deployed)
    verify_tree(mlflow_root(stored), expected)
    return LoadedVersion(deployed.version, filing_id(deployed), deployed.filing_number,
                         expected, artifacts_sha256(expected), model_class.load(stored))


@dataclass(frozen=True)
class ModelServerSettings:
    model_name: str  # also the id of its deployment in the registry
    registry_target: str
    token_file: Path  # re-read on every (re)connect, so a rotated token is picked up

    @classmethod
    def from_env(cls, model_name: str) -> ModelServerSettings:
        return cls(model_name,
                   env_str("ZHIJIAN_REGISTRY_TARGET", DEFAULT_REGISTRY_TARGET),
                   token_file_from_env())


def fetch_deployment(settings: ModelServerSettings, wait_s: float) -> Deployment | None:
    """The deployment as the registry has it now (sync: BentoML builds the service in a
    plain call), retried while the registry is unreachable for up to ``wait_s``."""
    token = token_from_file(settings.token_file)
    request = registry_pb.GetDeploymentRequest(name=f"deployments/{settings.model_name}")
    deadline = time.monotonic() + wait_s
    with grpc.insecure_channel(settings.registry_target) as channel:
        stub = registry_grpc.RegistryServiceStub(channel)
        while True:
            try:
                deployment: Deployment = stub.GetDeployment(
                    request, metadata=((md.AUTHORIZATION, f"Bearer {token()}"),), timeout=5.0)
                return deployment
            except ZhijianError as error:  # no readable token: retrying will not help
                log.error("cannot ask the registry: %s", error.message)
                return None
            except grpc.RpcError as error:
                code = error.code()
                if code == grpc.StatusCode.NOT_FOUND:
                    log.warning("%s is not deployed in the registry yet", settings.model_name)
                    return None
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED) \
                        or time.monotonic() >= deadline:
                    log.error("the registry at %s refused or did not answer GetDeployment "
                              "(%s: %s); starting with no version loaded",
                              settings.registry_target, code.name, error.details())
                    return None
            time.sleep(1.0)


class VersionPool:
    """The loaded versions. Loads run one at a time on a loader thread; request threads
    read ``loaded`` and ``refused`` without a lock: both are replaced, never mutated."""

    def __init__(self, model_name: str, model_class: type[ServedModel[Any]]) -> None:
        self.model_name = model_name
        self.model_class = model_class
        self.loaded: dict[str, LoadedVersion] = {}
        self.refused: dict[str, tuple[Pin, str]] = {}
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
        self._lock = threading.Lock()
        self._queued = False

    def reconcile(self, deployment: Deployment | None) -> None:
        wanted = loadable_anywhere(deployment, now=time.time())
        for deployed in wanted.values():
            self._ensure_loaded(deployed)
        for version in sorted(set(self.loaded) - set(wanted)):
            log.info("unloading %s version %s: the registry no longer lets it serve in any "
                     "network domain", self.model_name, version)
            self.loaded = {v: m for v, m in self.loaded.items() if v != version}

    def _ensure_loaded(self, deployed: DeployedVersion) -> None:
        version, pin = deployed.version, pin_of(deployed)
        current = self.loaded.get(version)
        if current is not None and current.pin == pin:
            return
        refused = self.refused.get(version)
        if refused is not None and refused[0] == pin:
            return  # the same files were refused before; a tampered store stays tampered
        try:
            loaded = verified_load(self.model_name, self.model_class, deployed)
        except ArtifactMismatch as mismatch:
            log.critical("REFUSED to load %s version %s (filing %s): its artifacts do not "
                         "match the filing: %s. It will not serve. Investigate the model "
                         "store, then remove the copy (bentoml models delete %s) to re-import.",
                         self.model_name, version,
                         deployed.filing_number or filing_id(deployed), mismatch,
                         bento_tag(self.model_name, version))
            self.refused = {**self.refused,
                            version: (pin, f"artifacts differ from the filing: {mismatch}")}
            self.loaded = {v: m for v, m in self.loaded.items() if v != version}
            return
        except Exception:
            # Import or load failed for another reason (MLflow unreachable, say): not a
            # verdict on the files, so the next reconcile tries again.
            log.exception("could not load %s version %s", self.model_name, version)
            return
        log.info("loaded %s version %s (filing %s, %d artifact files verified, sha256 %s)",
                 self.model_name, version, loaded.filing_number or loaded.filing_id,
                 len(loaded.artifacts), loaded.artifacts_sha256[:16])
        self.refused = {v: r for v, r in self.refused.items() if v != version}
        self.loaded = {**self.loaded, version: loaded}

    def request_reconcile(self, latest: ThreadedWatcher) -> None:
        """Reconcile on the loader thread against the latest state; bursts coalesce."""
        with self._lock:
            if self._queued:
                return
            self._queued = True

        def run() -> None:
            with self._lock:
                self._queued = False
            self.reconcile(latest.watcher.deployment)
        self._loader.submit(run)

    def close(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)


def refusal(code: str, version: str, detail: str) -> dict[str, str]:
    return {"error": code, "version": version, "detail": detail}


def _tracing() -> dict[str, Any]:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return {"sample_rate": 0.0}
    # BentoML samples parent-based with a ratio of its own; follow the standard OTel
    # variables the rest of the platform reads, so every process samples alike.
    ratio = 1.0
    if "traceidratio" in os.environ.get("OTEL_TRACES_SAMPLER", ""):
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    return {"exporter_type": "otlp", "sample_rate": ratio,
            "otlp": {"protocol": "grpc", "endpoint": endpoint, "grpc": {"insecure": True}}}


def service_options(name: str) -> dict[str, Any]:
    """The ``@bentoml.service`` settings of every governed model server."""
    return {"name": name, "workers": 1, "traffic": {"timeout": 30}, "tracing": _tracing(),
            "logging": {"access": {"enabled": False}}}


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


class _VersionMetrics:
    """Per-version item counts and batch times, the figures a canary is judged by. Made
    in the worker (BentoML sets up its multiprocess registry before the service)."""

    def __init__(self) -> None:
        self.items = bentoml.metrics.Counter(
            name="zhijian_model_items_total",
            documentation="Items answered by the model server, by model version and outcome "
                          "(predicted, or the refusal code)",
            labelnames=["model", "version", "outcome"])
        self.seconds = bentoml.metrics.Histogram(
            name="zhijian_model_predict_seconds",
            documentation="Time one version took to predict one batch",
            labelnames=["model", "version"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))


class GovernedModelServer(Generic[ItemT]):
    """The body of a service's model server. A subclass names its model and
    :class:`ServedModel`, declares ``predict`` with its item type (BentoML reads the type
    from the signature) and delegates to :meth:`answer`; ``/info`` and shutdown come from
    here. Apply :func:`guard` to the decorated class."""

    model_name: ClassVar[str]
    model_class: ClassVar[type[ServedModel[Any]]]

    def __init__(self) -> None:
        # BentoML's logging setup leaves other loggers at WARNING; loads, unloads and
        # refusals are what an operator of this server needs to see.
        logging.getLogger("zhijian").setLevel(env_str("ZHIJIAN_LOG_LEVEL", "INFO").upper())
        settings = ModelServerSettings.from_env(self.model_name)
        self.metrics = _VersionMetrics()
        self.pool = VersionPool(self.model_name, self.model_class)
        # Loaded before BentoML reports ready, so the first calls do not meet MODEL_LOADING.
        initial = fetch_deployment(settings, STARTUP_REGISTRY_WAIT_S)
        log.info("registry says %s: %s", self.model_name, describe(initial))
        self.pool.reconcile(initial)
        self.watch = ThreadedWatcher(DeploymentWatcher(
            settings.registry_target, settings.model_name,
            token=token_from_file(settings.token_file)))
        self.watch.watcher.on_change(self._changed)
        if not self.watch.start(wait_for_state_s=FIRST_WATCH_STATE_WAIT_S):
            log.error("no serving state from the registry at %s yet; every item is refused "
                      "with %s until it arrives", settings.registry_target,
                      SERVING_STATE_UNKNOWN)
        self._stop = threading.Event()
        threading.Thread(target=self._reconcile_periodically, daemon=True,
                         name="model-reconcile").start()

    def _changed(self, deployment: Deployment | None) -> None:
        # On the watcher's loop: log and hand over; loading must not stall the watch.
        log.info("registry says %s: %s", self.model_name, describe(deployment))
        self.pool.request_reconcile(self.watch)

    def _reconcile_periodically(self) -> None:
        while not self._stop.wait(RECONCILE_INTERVAL_S):
            self.pool.request_reconcile(self.watch)

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        self.watch.close()
        self.pool.close()

    def _servable(self, versions: set[str],
                  ) -> tuple[dict[str, LoadedVersion], dict[str, dict[str, str]]]:
        """For each requested version: the loaded model that may answer, or the refusal."""
        watcher = self.watch.watcher
        if not watcher.fresh():
            detail = "the model server has no current serving state from the registry"
            return {}, {v: refusal(SERVING_STATE_UNKNOWN, v, detail) for v in versions}
        allowed = watcher.servable()
        loaded, refused = self.pool.loaded, self.pool.refused
        models: dict[str, LoadedVersion] = {}
        errors: dict[str, dict[str, str]] = {}
        for version in versions:
            deployed = allowed.get(version)
            if deployed is None:
                errors[version] = refusal(
                    MODEL_NOT_SERVABLE, version, "the registry does not let this version "
                    "serve in any network domain now")
                continue
            model = loaded.get(version)
            if model is not None and model.pin == pin_of(deployed):
                models[version] = model
            elif version in refused and refused[version][0] == pin_of(deployed):
                errors[version] = refusal(MODEL_NOT_SERVABLE, version, refused[version][1])
            else:
                errors[version] = refusal(MODEL_LOADING, version, "allowed, not loaded yet")
        return models, errors

    def answer(self, items: Sequence[ItemT]) -> list[dict[str, Any]]:
        """One answer per item: each version's items go to that version, if it may serve."""
        by_version: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            by_version.setdefault(item.version, []).append(index)
        models, errors = self._servable(set(by_version))
        answers: list[dict[str, Any]] = [{} for _ in items]
        for version, indices in by_version.items():
            if version in errors:
                self.metrics.items.labels(self.model_name, version,
                                          errors[version]["error"]).inc(len(indices))
                for index in indices:
                    answers[index] = errors[version]
                continue
            started = time.perf_counter()
            predictions = models[version].model.predict([items[i] for i in indices])
            self.metrics.seconds.labels(self.model_name, version).observe(
                time.perf_counter() - started)
            self.metrics.items.labels(self.model_name, version, "predicted").inc(len(indices))
            for index, prediction in zip(indices, predictions, strict=True):
                answers[index] = prediction
        return answers

    @bentoml.api(route="/info")
    def info(self) -> dict[str, Any]:
        watcher = self.watch.watcher
        deployment = watcher.deployment
        allowed = watcher.servable()
        domains = {name: watcher.servable(value) for name, value in NETWORK_DOMAINS.items()}
        production = deployment.production.version if deployment is not None else ""
        return {
            "model_name": self.model_name,
            # The production version if it is loaded (what a plain caller would get).
            "model_version": production if production in self.pool.loaded else "",
            "serving_state": {"fresh": watcher.fresh(), "revision": watcher.revision,
                              "last_confirmed": _iso(watcher.last_confirmed),
                              "stream_connected": watcher.stream_connected},
            "versions": [{"version": m.version, "filing_id": m.filing_id,
                          "filing_number": m.filing_number,
                          "artifacts_sha256": m.artifacts_sha256,
                          "artifact_files": len(m.artifacts),
                          "servable": m.version in allowed,
                          "network_domains": [d for d, found in domains.items()
                                              if m.version in found]}
                         for m in sorted(self.pool.loaded.values(), key=lambda m: m.version)],
            "refused": [{"version": v, "filing_id": pin[0], "reason": reason}
                        for v, (pin, reason) in sorted(self.pool.refused.items())],
        }


def guard(service: Any, *, audience: str) -> None:
    """Let no request without a valid assertion for ``audience`` (the gRPC service the
    model server answers) reach a handler. BentoML's own tracing and metrics middleware
    come first, so refusals show in spans and request counts."""
    service.add_asgi_middleware(AssertionMiddleware, open_paths=OPEN_PATHS,
                                audiences=[audience])


def text_model_server(model_name: str, *, bento_name: str, audience: str,
                      module: str, attribute: str) -> Any:
    """The governed model server of a model whose items are single texts, for a service
    module to bind as ``attribute`` (what ``bentoml serve module:attribute`` names)."""

    class TextModelServer(GovernedModelServer[TextItem]):
        @bentoml.api(**BATCHING)
        def predict(self, items: list[TextItem]) -> list[dict[str, Any]]:
            return self.answer(items)

    TextModelServer.model_name = model_name
    TextModelServer.model_class = TextPyfuncModel
    # Named where it is served from, so logs and BentoML's own records point there.
    TextModelServer.__module__, TextModelServer.__qualname__ = module, attribute
    TextModelServer.__name__ = attribute
    service = bentoml.service(**service_options(bento_name))(TextModelServer)
    guard(service, audience=audience)
    return service

