"""The registry's governance logic on a real database (SQLite and PostgreSQL, through the
``database_url`` fixture) and a real MLflow store (SQLite-backed, no server), driven as
named actors. gRPC, tokens and the validation runner process are exercised by the
integration tests; here validation outcomes are recorded through the same ``complete``
function the runner's result goes through."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from sqlalchemy import text

from registry import catalog, filings, identities, validation_jobs
from registry.context import Actor, RegistryContext
from registry.db import Database
from registry.ledger import Ledger, LedgerKey, canonical_json, entry_sha256, rfc3339
from registry.model_store import ModelStore
from registry.settings import RegistrySettings
from zhijian import identity
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

MODEL = "tiny-classifier"
DEVELOPER = Actor("user:dev", frozenset({"model_developer"}))
VALIDATOR = Actor("user:val", frozenset({"validator"}))
ADMIN = Actor("user:admin", frozenset({"platform_admin"}))
ADMIN2 = Actor("user:admin2", frozenset({"platform_admin"}))
# What a client signs for a filing that has no frozen evidence yet (the registry must
# refuse such an approval for its state before any signature matters).
NO_EVIDENCE = "0" * 64


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class MlflowStore:
    tracking_uri: str
    client: MlflowClient
    source: str
    run_id: str

    def new_version(self) -> str:
        """A real registered version (same artifacts as version 1, registered in ms)."""
        return str(self.client.create_model_version(MODEL, self.source,
                                                    run_id=self.run_id).version)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> MlflowStore:
    import mlflow

    from governance.tiny_model import ConstantModel

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("registry-tests",
                                          artifact_location=(root / "artifacts").as_uri())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri",
                      mlflow.tracking._tracking_service.utils._tracking_uri)
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.pyfunc.log_model(name="model", python_model=ConstantModel(),
                                    pip_requirements=["mlflow"], registered_model_name=MODEL)
    first = client.get_model_version(MODEL, "1")
    return MlflowStore(uri, client, first.source or "", run.info.run_id)


def settings_for(tmp: Path, database_url: str, tracking_uri: str) -> RegistrySettings:
    return RegistrySettings(
        database_url=database_url, tracking_uri=tracking_uri, keys_dir=tmp / "keys",
        ledger_key=tmp / "keys" / "ledger.pem", witness_dir=tmp / "ledger",
        work_dir=tmp / "registry", network_domain=types_pb.NETWORK_DOMAIN_INTRANET,
        segment_size=50, calls_retention_s=183 * 86400, governance_retention_s=3650 * 86400,
        revalidation_warning_s=30 * 86400, sweep_interval_s=1.0, reconcile_interval_s=10.0,
        validation_timeout_s=60.0, dataset_roots=(tmp,))


@dataclass
class Harness:
    """Drives filings into any state the legitimate way."""

    ctx: RegistryContext
    clock: Clock
    mlflow: MlflowStore
    tmp: Path
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    datasets: tuple[str, str] = ("", "")

    def enroll(self, actor: Actor) -> None:
        key = identity.generate_signing_key()
        raw = identity.public_key_raw(key)
        proof = identity.sign(key, identity.enrollment_statement(
            subject=actor.subject, key_id=identity.key_id_of(raw)))
        identities.enroll(self.ctx, actor, pb.EnrollSigningKeyRequest(public_key=raw,
                                                                      proof=proof))
        self.keys[actor.subject] = key

    def key_id(self, actor: Actor) -> str:
        return identity.key_id_of(identity.public_key_raw(self.keys[actor.subject]))

    def register_datasets(self) -> None:
        train, test = self.tmp / "train.jsonl", self.tmp / "test.jsonl"
        train.write_text("".join(json.dumps({"text": f"训练样本 {i}", "product_category":
                                             "device"}, ensure_ascii=False) + "\n"
                                 for i in range(20)), encoding="utf-8")
        test.write_text("".join(json.dumps({"text": f"test sample {i}", "product_category":
                                            "device"}) + "\n" for i in range(10)))
        made = []
        for path, name in ((train, "train"), (test, "test")):
            made.append(catalog.register(self.ctx, DEVELOPER, pb.RegisterDatasetRequest(
                dataset_id=f"ds-{name}", dataset=pb.Dataset(
                    display_name=name, uri=str(path), source="written for the tests",
                    legal_basis="own work", data_level=types_pb.DATA_LEVEL_L1_PUBLIC))).name)
        self.datasets = (made[0], made[1])

    def draft(self, *, tier: str = "medium", plan: bool = True) -> pb.Filing:
        level = {"low": pb.IMPACT_LEVEL_LOW, "medium": pb.IMPACT_LEVEL_MEDIUM,
                 "high": pb.IMPACT_LEVEL_HIGH}[tier]
        filing = complete_filing(self.mlflow.new_version(), self.datasets, level)
        if not plan:
            filing.ClearField("validation_plan")
        return filings.create(self.ctx, DEVELOPER, pb.CreateFilingRequest(filing=filing))

    def submitted(self, **kwargs: Any) -> pb.Filing:
        draft = self.draft(**kwargs)
        return filings.submit(self.ctx, DEVELOPER, pb.SubmitFilingRequest(name=draft.name))

    def validate(self, filing: pb.Filing, *, passed: bool = True) -> pb.ValidationRun:
        self.clock.advance(1)  # time passes between acts, as it does for real
        run = validation_jobs.start(self.ctx, VALIDATOR,
                                    pb.ValidateFilingRequest(name=filing.name))
        self.clock.advance(1)
        return validation_jobs.complete(self.ctx, run.name, measured(passed))

    def validated(self, **kwargs: Any) -> tuple[pb.Filing, pb.ValidationRun]:
        filing = self.submitted(**kwargs)
        run = self.validate(filing)
        return self.get(filing.name), run

    def approve(self, filing: pb.Filing, run: pb.ValidationRun, actor: Actor = ADMIN,
                *, key_of: Actor | None = None) -> pb.Filing:
        signer = key_of or actor
        statement = identity.approval_statement(
            filing=filing.name, evidence_sha256=filing.evidence_sha256 or NO_EVIDENCE,
            validation_run_sha256=run.record_sha256, decision="approve", conditions=[])
        return filings.approve(self.ctx, actor, pb.ApproveFilingRequest(
            name=filing.name, validation_run=run.name, validation_run_sha256=run.record_sha256,
            signature=identity.sign(self.keys[signer.subject], statement),
            key_id=self.key_id(signer)))

    def reject(self, filing: pb.Filing, actor: Actor = ADMIN) -> pb.Filing:
        reason = "not adequate for intake"
        statement = identity.rejection_statement(
            filing=filing.name, evidence_sha256=filing.evidence_sha256 or NO_EVIDENCE,
            reason=reason)
        return filings.reject(self.ctx, actor, pb.RejectFilingRequest(
            name=filing.name, reason=reason,
            signature=identity.sign(self.keys[actor.subject], statement),
            key_id=self.key_id(actor)))

    def renew(self, filing: pb.Filing, run: pb.ValidationRun, actor: Actor = ADMIN
              ) -> pb.Filing:
        statement = identity.approval_statement(
            filing=filing.name, evidence_sha256=filing.evidence_sha256 or NO_EVIDENCE,
            validation_run_sha256=run.record_sha256, decision="renew", conditions=[])
        return filings.renew(self.ctx, actor, pb.RenewFilingRequest(
            name=filing.name, validation_run=run.name, validation_run_sha256=run.record_sha256,
            signature=identity.sign(self.keys[actor.subject], statement),
            key_id=self.key_id(actor)))

    def approved(self, **kwargs: Any) -> tuple[pb.Filing, pb.ValidationRun]:
        filing, run = self.validated(**kwargs)
        return self.approve(filing, run), run

    def get(self, name: str) -> pb.Filing:
        from registry import listing

        return listing.get_filing(self.ctx, name)

    def governance_head(self) -> int:
        return self.ctx.ledger.head("governance")[0]

    def append_behind_the_ledger(self, action: str, target: str, details: dict[str, Any], *,
                                 actor: str = "svc:registry",
                                 signature_of: int | None = None) -> int:
        """What someone with database access and no ledger key can append: a well-formed
        governance entry at the head (right hash, right predecessor, head row moved on),
        with no signature or with the signature of entry ``signature_of``. Returns its
        sequence."""
        with self.ctx.db.engine.begin() as connection:
            head = connection.execute(text(
                "SELECT last_sequence, last_sha256, segment FROM ledger_heads "
                "WHERE ledger = 'governance'")).one()
            row: dict[str, Any] = {
                "ledger": "governance", "sequence": head.last_sequence + 1,
                "segment": head.segment, "create_time": rfc3339(time.time()),
                "actor": actor, "action": action, "target": target, "trace_id": "",
                "record_id": None, "details": canonical_json(details),
                "prev_sha256": head.last_sha256, "signature": None}
            row["entry_sha256"] = entry_sha256(head.last_sha256, {
                **{k: row[k] for k in ("ledger", "sequence", "segment", "create_time",
                                       "actor", "action", "target", "trace_id",
                                       "record_id")}, "details": details})
            if signature_of is not None:
                row["signature"] = connection.execute(text(
                    "SELECT signature FROM ledger_events WHERE ledger = 'governance' "
                    "AND sequence = :s"), {"s": signature_of}).scalar_one()
            connection.execute(text(
                "INSERT INTO ledger_events (ledger, sequence, segment, create_time, actor, "
                "action, target, details, trace_id, record_id, prev_sha256, entry_sha256, "
                "signature) VALUES (:ledger, :sequence, :segment, :create_time, :actor, "
                ":action, :target, :details, :trace_id, :record_id, :prev_sha256, "
                ":entry_sha256, :signature)"), row)
            connection.execute(text(
                "UPDATE ledger_heads SET last_sequence = :sequence, last_sha256 = :sha "
                "WHERE ledger = 'governance'"),
                {"sequence": row["sequence"], "sha": row["entry_sha256"]})
        return int(row["sequence"])


def duration(seconds: float) -> Any:
    from google.protobuf import duration_pb2

    value = duration_pb2.Duration()
    value.FromNanoseconds(int(seconds * 1e9))
    return value


def complete_filing(version: str, datasets: tuple[str, str], level: Any) -> pb.Filing:
    return pb.Filing(
        filing_type=pb.FILING_TYPE_NEW,
        identity=pb.ModelIdentity(model=MODEL, version=version),
        parties=pb.Parties(provider_organization="test org", business_owner="user:owner",
                           security_officer="user:security", developers=["user:dev"]),
        purpose=pb.Purpose(intended_use="suggest a category", context_of_use="intake",
                           role=pb.MODEL_ROLE_ASSISTIVE, prohibited_decisions=["final"],
                           users=["reviewers"], business_scenario="device intake",
                           algorithm_type="constant", task="classify.product_category"),
        classification=pb.Classification(
            model_influence=level, decision_consequence=level, rationale="test",
            max_data_level=types_pb.DATA_LEVEL_L2_GENERAL,
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET]),
        technical_description=pb.TechnicalDescription(mechanism="constant", architecture="none"),
        datasets=[pb.DatasetUse(dataset=datasets[0], purpose=pb.DATASET_PURPOSE_TRAINING),
                  pb.DatasetUse(dataset=datasets[1], purpose=pb.DATASET_PURPOSE_TEST)],
        validation_plan=pb.ValidationPlan(
            metrics=[pb.MetricThreshold(metric="accuracy", target="product_category",
                                        comparison=pb.COMPARISON_GREATER_OR_EQUAL,
                                        threshold=0.8)],
            latency_budget_p95=duration(0.05), revalidation_interval=duration(180 * 86400)),
        oversight=pb.Oversight(review_points=["every output"], stop_authorities=["admin"],
                               output_label="AI draft"))


def measured(passed: bool) -> dict[str, Any]:
    """A runner outcome for the plan of ``complete_filing``."""
    value = 0.9 if passed else 0.5
    return {"ok": True, "measurements": {
        "test_dataset_sha256": "0" * 64,
        "metric_results": [{"metric": "accuracy", "target": "product_category", "subgroup": "",
                            "value": value, "ci_lower": value - 0.05,
                            "ci_upper": value + 0.05, "sample_size": 10}],
        "robustness": [], "stability_overall": None, "train_test_overlap_records": 0,
        "latency_p50_ms": 1.0, "latency_p95_ms": 2.0, "artifacts_verified": True,
        "mlflow_run_id": "", "report_uri": "", "report_json_uri": "", "report_sha256": "",
        "report_markdown": "# report", "seconds": 0.1}}


@pytest.fixture
def harness(database_url: str, mlflow_store: MlflowStore, tmp_path: Path) -> Iterator[Harness]:
    settings = settings_for(tmp_path, database_url, mlflow_store.tracking_uri)
    db = Database(database_url)
    clock = Clock()
    ledger = Ledger(db, LedgerKey.load_or_create(settings.ledger_key), settings.witness_dir,
                    segment_size=settings.segment_size)
    ctx = RegistryContext(db=db, ledger=ledger, store=ModelStore(mlflow_store.tracking_uri),
                          settings=settings, clock=clock)
    h = Harness(ctx, clock, mlflow_store, tmp_path)
    for actor in (VALIDATOR, ADMIN, ADMIN2):
        h.enroll(actor)
    h.register_datasets()
    yield h
    db.dispose()
