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
from zhijian.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

PREFIX = "datasets/"


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
    try:
        access.locate(dataset.uri)
    except DatasetAccessError as error:
        raise invalid_field("dataset.uri", error.message, reason=error.reason) from None
    return dataset_id, dataset


def inspect(uri: str, access: DatasetAccess) -> DatasetScan:
    """Read the file once: refuses anything that is not the documented JSONL format.
    Blocking; the servicer runs it on the dataset-read threads."""
    try:
        return scan_dataset(uri, access)
    except DatasetAccessError as error:
        raise invalid_field("dataset.uri", error.message, reason=error.reason) from None
    except DatasetError as error:
        raise invalid_field("dataset.uri", str(error), reason="DATASET_MALFORMED") from None


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
            "legal_basis": dataset.legal_basis,
            "data_level": types_pb.DataLevel.Name(dataset.data_level)})
        return dataset


def register(ctx: RegistryContext, actor: Actor,
             request: pb.RegisterDatasetRequest) -> pb.Dataset:
    """All three steps in the calling thread (the servicer runs the read elsewhere)."""
    access = ctx.settings.dataset_access
    dataset_id, dataset = prepare(request, access)
    return store(ctx, actor, dataset_id, dataset, inspect(dataset.uri, access))


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
