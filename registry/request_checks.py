"""How the registry's requests are checked before a handler runs.

The kernel checks every request against its descriptor (``zhijian.request_validation``).
Where a registry handler already checks a field's presence or form with a more precise
reason, the kernel leaves that to it (it still refuses control characters there), so
that callers keep the reasons the registry has always given:

- ``REASON_REQUIRED`` for a blank reason (whitespace too, which the kernel accepts);
- ``FILING_FIELD_REQUIRED`` per missing part of a new filing's identity,
  ``DATASET_FIELD_REQUIRED`` per missing field of a new dataset;
- ``UPDATE_MASK_REQUIRED`` / ``FIELD_NOT_UPDATABLE`` for an empty or wrong update mask;
- ``DEPLOYMENT_ID_INVALID``, ``NETWORK_DOMAINS_REQUIRED`` for a new deployment;
- ``UNKNOWN_LEDGER``, which names the two ledgers there are, where the kernel could only
  say that a name is not of the form ``ledgers/{ledger}``;
- ``BATCH_EMPTY``, ``RECORD_ID_REQUIRED``, ``CALL_RECORD_INCOMPLETE`` for call records,
  which gateways check the same way before a record enters their write-ahead log
  (``gateway.audit.check_record``);
- ``INVALID_PUBLIC_KEY``, ``JTI_REQUIRED``.

PostgreSQL cannot store U+0000 in text, so the registry refuses it in every string
field, free text included, instead of failing the write as INTERNAL.
"""

from __future__ import annotations

from zhijian.registry.v1 import registry_service_pb2
from zhijian.server import Service

_REASON = frozenset({"reason"})

CHECKED_BY_HANDLER: dict[str, frozenset[str]] = {
    "CreateFiling": frozenset({"filing"}),
    "UpdateFiling": frozenset({"update_mask"}),
    "RejectFiling": _REASON,
    "SuspendFiling": _REASON,
    "ReinstateFiling": _REASON,
    "RetireFiling": _REASON,
    "RegisterDataset": frozenset({"dataset"}),
    "CreateDeployment": frozenset({"deployment", "deployment_id"}),
    "UpdateDeployment": frozenset({"update_mask"}),
    "RollbackDeployment": _REASON,
    "SuspendDeployment": _REASON,
    "ResumeDeployment": _REASON,
    "ListAuditEvents": frozenset({"parent"}),
    "VerifyLedger": frozenset({"name"}),
    "PruneLedger": frozenset({"name"}),
    "AppendCallRecords": frozenset({"records", "records.record_id", "records.caller",
                                    "records.method"}),
    "EnrollSigningKey": frozenset({"public_key"}),
    "RevokeToken": frozenset({"jti", "reason"}),
}

DESCRIPTOR = registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"]


def registry_service(servicer: object) -> Service:
    """The RegistryService as every registry process serves it."""
    return Service(DESCRIPTOR, servicer, checked_by_handler=CHECKED_BY_HANDLER,
                   refuse_nul_in_text=True)
