"""Registered datasets: the registry reads each file itself, so the hash and record
count on record are what the file held, not what someone typed."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from registry import records
from registry.context import Actor, RegistryContext
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
    return v


def register(ctx: RegistryContext, actor: Actor,
             request: pb.RegisterDatasetRequest) -> pb.Dataset:
    from registry.datasets import DatasetError, dataset_digest, read_records

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
    path = Path(dataset.uri.removeprefix("file://"))
    if not path.is_absolute():
        raise invalid_field("dataset.uri", "must be an absolute path or file:// URI",
                            reason="DATASET_URI_INVALID")
    try:
        read_records(path)  # refuses a file that is not the documented JSONL format
        sha256, count = dataset_digest(path)
    except OSError as error:
        raise invalid_field("dataset.uri", f"cannot read {path}: {error.strerror}",
                            reason="DATASET_UNREADABLE") from None
    except DatasetError as error:
        raise invalid_field("dataset.uri", str(error), reason="DATASET_MALFORMED") from None
    with ctx.write() as session:
        if session.get(DatasetRow, dataset_id) is not None:
            raise AlreadyExists(f"{PREFIX}{dataset_id} exists", reason="DATASET_EXISTS")
        now = ctx.clock()
        dataset.name = PREFIX + dataset_id
        dataset.sha256, dataset.record_count = sha256, count
        dataset.registrant = actor.subject
        dataset.create_time.CopyFrom(timestamp(now))
        session.add(DatasetRow(id=dataset_id, sha256=sha256, data_level=dataset.data_level,
                               registrant=actor.subject, create_time=now,
                               body=records.to_json(dataset)))
        ctx.record(session, actor, "dataset.register", dataset.name, {
            "sha256": sha256, "records": count, "uri": dataset.uri,
            "legal_basis": dataset.legal_basis,
            "data_level": types_pb.DataLevel.Name(dataset.data_level)})
        return dataset


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
