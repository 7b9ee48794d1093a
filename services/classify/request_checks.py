"""How ClassifyService requests are checked before the servicer runs.

The kernel checks every request against its descriptor (``zhijian.request_validation``);
these fields the servicer checks itself with reasons callers already rely on, so the
kernel leaves their presence and form to it (control characters in the result name are
still the kernel's):

- ``text``: ``TEXT_EMPTY``, for blank text too (``request_violations``);
- ``requests``: ``BATCH_EMPTY``; ``requests.text``: ``TEXT_EMPTY`` at ``requests[i].text``;
- ``ReviewResult``: ``INVALID_RESULT_NAME``, ``DECISION_REQUIRED``, and ``UNKNOWN_TASK`` /
  ``UNKNOWN_LABEL`` per modified label.
"""

from __future__ import annotations

from zhijian.classify.v1 import classify_service_pb2
from zhijian.server import Service

CHECKED_BY_HANDLER: dict[str, frozenset[str]] = {
    "Classify": frozenset({"text"}),
    "ClassifyBatch": frozenset({"requests", "requests.text"}),
    "ReviewResult": frozenset({"name", "decision", "modified_labels.task",
                               "modified_labels.label"}),
}

DESCRIPTOR = classify_service_pb2.DESCRIPTOR.services_by_name["ClassifyService"]


def classify_service(servicer: object) -> Service:
    """The ClassifyService as the classify process serves it."""
    return Service(DESCRIPTOR, servicer, checked_by_handler=CHECKED_BY_HANDLER)
