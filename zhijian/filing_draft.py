"""The draft filing of a seed model version, as the governed bootstrap files it.

What every filing of a first version shares comes from the bootstrap (who develops,
owns and secures it, which registered datasets trained and test it, the code revision);
the groups that describe the model (purpose, classification, technical description,
validation plan, oversight, change control) are the service's own, given as messages or
as dicts in the proto's JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from zhijian.registry.v1 import registry_service_pb2 as pb

# What the service writes; identity, parties and datasets are the bootstrap's.
SERVICE_GROUPS: frozenset[str] = frozenset({
    "purpose", "classification", "technical_description", "validation_plan", "oversight",
    "change_control"})


def seed_filing(model: str, version: str, *, organization: str, developers: list[str],
                business_owner: str, security_officer: str, training_dataset: str,
                test_dataset: str, code_revision: str = "",
                **groups: Message | Mapping[str, Any]) -> pb.Filing:
    filing = pb.Filing(
        filing_type=pb.FILING_TYPE_NEW, identity=pb.ModelIdentity(model=model, version=version),
        parties=pb.Parties(provider_organization=organization, business_owner=business_owner,
                           security_officer=security_officer, developers=developers),
        datasets=[pb.DatasetUse(dataset=training_dataset, purpose=pb.DATASET_PURPOSE_TRAINING),
                  pb.DatasetUse(dataset=test_dataset, purpose=pb.DATASET_PURPOSE_TEST)],
        code_revision=code_revision)
    unknown = sorted(set(groups) - SERVICE_GROUPS)
    if unknown:
        raise TypeError(f"seed_filing: {', '.join(unknown)} is not a group a service "
                        f"describes (those are {', '.join(sorted(SERVICE_GROUPS))})")
    for group, value in groups.items():
        target = getattr(filing, group)
        if isinstance(value, Message):
            target.CopyFrom(value)
        else:
            json_format.ParseDict(dict(value), target)
    return filing
