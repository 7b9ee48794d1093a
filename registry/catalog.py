"""Registered datasets: the registry reads each file itself, so the hash and record
count on record are what the file held, not what someone typed — and only files under
the configured dataset roots (``registry/datasets.py``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from registry import records
from registry.context import Actor, RegistryContext
from registry.datasets import (
    DatasetAccess,
    DatasetAccessError,
    DatasetError,
    DatasetScan,
    scan_dataset,
)
from registry.filings import timestamp
from registry.schema import DatasetRow
from registry.validation.evaluators import DEFAULT_TASK_TYPE, UnknownTaskType, evaluator_for
from zhijian.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

PREFIX = "datasets/"
_SHA256_HEX = frozenset("0123456789abcdef")


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and set(value) <= _SHA256_HEX


def _violations(dataset: pb.Dataset) -> list[FieldViolation]:
    v = []
    for field in ("display_name", "uri", "source", "legal_basis"):
        if not getattr(dataset, field).strip():
            v.append(FieldViolation(f"dataset.{field}", "is required", "DATASET_FIELD_REQUIRED"))
    if dataset.data_level == types_pb.DATA_LEVEL_UNSPECIFIED:
        v.append(FieldViolation("dataset.data_level", "is required", "DATASET_FIELD_REQUIRED"))
    elif dataset.data_level not in types_pb.DataLevel.values():
        # proto3 enums are open: an unknown number decodes and would reach the ledger.
        v.append(FieldViolation("dataset.data_level",
                                f"unknown data level {dataset.data_level}; use L1-L4",
                                "UNKNOWN_DATA_LEVEL"))
    try:
        evaluator_for(dataset.task_type)
    except UnknownTaskType as error:
        v.append(FieldViolation("dataset.task_type", str(error), "UNKNOWN_TASK_TYPE"))
    if dataset.HasField("derived_from"):
        origin = dataset.derived_from
        for field in ("source_uri", "transform"):
            if not getattr(origin, field).strip():
                v.append(FieldViolation(f"dataset.derived_from.{field}", "is required",
                                        "DATASET_FIELD_REQUIRED"))
        for field in ("source_sha256", "transform_sha256"):
            if not _is_sha256(getattr(origin, field)):
                v.append(FieldViolation(f"dataset.derived_from.{field}",
                                        "must be a SHA-256 of 64 lowercase hex digits",
                                        "INVALID_SHA256"))
    return v


def prepare(request: pb.RegisterDatasetRequest, access: DatasetAccess
            ) -> tuple[str, pb.Dataset]:
    """The dataset id and record to store, checked without touching any file: a URI
    outside the roots is refused here, before a read is even scheduled."""
    dataset = pb.Dataset()
    dataset.CopyFrom(request.dataset)
    violations = _violations(dataset)
    if violations:
        raise InvalidArgument(f"{violations[0].field} {violations[0].description}",
                              reason=violations[0].reason, violations=violations)
    dataset_id = request.dataset_id or f"d-{uuid.uuid4().hex[:12]}"
    if not records.ID_PATTERN.match(dataset_id):
        raise invalid_field("dataset_id", "must be 4-63 characters of [a-z0-9-], starting "
                            "with a letter", reason="INVALID_DATASET_ID")
    for field, uri in (("dataset.uri", dataset.uri),
                       ("dataset.derived_from.source_uri", dataset.derived_from.source_uri)):
        if not uri and field != "dataset.uri":
            continue
        try:
            access.locate(uri)
        except DatasetAccessError as error:
            raise invalid_field(field, error.message, reason=error.reason) from None
    dataset.task_type = dataset.task_type or DEFAULT_TASK_TYPE
    return dataset_id, dataset


def inspect(dataset: pb.Dataset, access: DatasetAccess) -> DatasetScan:
    """Read the file once: refuses anything that is not JSONL in the schema of the
    dataset's task type, and a derived dataset whose source file is not the one named.
    Blocking; the servicer runs it on the dataset-read threads."""
    evaluator = evaluator_for(dataset.task_type)
    try:
        scan = scan_dataset(dataset.uri, access, check=evaluator.check_record)
    except DatasetAccessError as error:
        raise invalid_field("dataset.uri", error.message, reason=error.reason) from None
    except DatasetError as error:
        raise invalid_field("dataset.uri", f"{error} (a {evaluator.task_type} record is "
                            f"{evaluator.record_schema})", reason="DATASET_MALFORMED") from None
    if dataset.HasField("derived_from"):
        origin = dataset.derived_from
        try:
            source = scan_dataset(origin.source_uri, access, check_records=False)
        except DatasetAccessError as error:
            raise invalid_field("dataset.derived_from.source_uri", error.message,
                                reason=error.reason) from None
        if source.sha256 != origin.source_sha256:
            raise invalid_field("dataset.derived_from.source_sha256",
                                f"the source file's SHA-256 is {source.sha256}, not the one "
                                "given: the dataset was not derived from this file as it is",
                                reason="SOURCE_HASH_MISMATCH")
    return scan


def store(ctx: RegistryContext, actor: Actor, dataset_id: str, dataset: pb.Dataset,
          scan: DatasetScan) -> pb.Dataset:
    with ctx.write() as session:
        if session.get(DatasetRow, dataset_id) is not None:
            raise AlreadyExists(f"{PREFIX}{dataset_id} exists", reason="DATASET_EXISTS")
        now = ctx.clock()
        dataset.name = PREFIX + dataset_id
        dataset.sha256, dataset.record_count = scan.sha256, scan.records
        dataset.registrant = actor.subject
        dataset.create_time.CopyFrom(timestamp(now))
        session.add(DatasetRow(id=dataset_id, sha256=scan.sha256,
                               data_level=dataset.data_level, registrant=actor.subject,
                               create_time=now, body=records.to_json(dataset)))
        ctx.record(session, actor, "dataset.register", dataset.name, {
            "sha256": scan.sha256, "records": scan.records, "uri": dataset.uri,
            "legal_basis": dataset.legal_basis, "task_type": dataset.task_type,
            "data_level": types_pb.DataLevel.Name(dataset.data_level),
            **({"derived_from": {"source_uri": dataset.derived_from.source_uri,
                                 "source_sha256": dataset.derived_from.source_sha256,
                                 "transform": dataset.derived_from.transform,
                                 "transform_sha256": dataset.derived_from.transform_sha256}}
               if dataset.HasField("derived_from") else {})})
        return dataset


def register(ctx: RegistryContext, actor: Actor,
             request: pb.RegisterDatasetRequest) -> pb.Dataset:
    """All three steps in the calling thread (the servicer runs the read elsewhere)."""
    access = ctx.settings.dataset_access
    dataset_id, dataset = prepare(request, access)
    return store(ctx, actor, dataset_id, dataset, inspect(dataset, access))


def get(ctx: RegistryContext, name: str) -> pb.Dataset:
    with ctx.db.read() as session:
        row = session.get(DatasetRow, name.removeprefix(PREFIX)) \
            if name.startswith(PREFIX) else None
        if row is None:
            raise NotFound(f"no dataset {name}", reason="DATASET_NOT_FOUND")
        return records.from_json(pb.Dataset, row.body)


def list_page(ctx: RegistryContext, offset: int, limit: int) -> list[pb.Dataset]:
    with ctx.db.read() as session:
        rows = session.scalars(select(DatasetRow).order_by(DatasetRow.create_time,
                                                           DatasetRow.id)
                               .offset(offset).limit(limit))
        return [records.from_json(pb.Dataset, row.body) for row in rows]
