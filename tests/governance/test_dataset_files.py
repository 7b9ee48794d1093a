"""Dataset files are read under the configured roots only, at registration and again at
submission: a registered file later swapped for a FIFO, a link out of the root or a
file over the size limit stops the submission at once, before anything is stored.
(The gRPC side, the refusals' uniformity and the registry's responsiveness are in
tests/integration/test_registry_datasets.py.)"""

from __future__ import annotations

import dataclasses
import os

import pytest

from governance.harness import DEVELOPER, Harness
from registry import catalog, filings
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

# A regression that opens a FIFO the ordinary way blocks for ever: fail instead.
pytestmark = pytest.mark.timeout(60)


def refused(fn: object, *args: object) -> ZhijianError:
    with pytest.raises(ZhijianError) as raised:
        fn(*args)  # type: ignore[operator]
    return raised.value


def _register(harness: Harness, uri: str) -> pb.Dataset:
    return catalog.register(harness.ctx, DEVELOPER, pb.RegisterDatasetRequest(
        dataset=pb.Dataset(display_name="probe", uri=uri, source="the tests",
                           legal_basis="own work", data_level=types_pb.DATA_LEVEL_L1_PUBLIC)))


def _swap(harness: Harness, make: object) -> pb.Filing:
    """A draft whose training file (registered, under the root) is then replaced."""
    draft = harness.draft()
    train = harness.tmp / "train.jsonl"
    train.unlink()
    make(train)  # type: ignore[operator]
    return draft


def _submission_refusal(harness: Harness, draft: pb.Filing) -> ZhijianError:
    head = harness.governance_head()
    error = refused(filings.submit, harness.ctx, DEVELOPER,
                    pb.SubmitFilingRequest(name=draft.name))
    assert harness.get(draft.name).state == pb.FILING_STATE_DRAFT
    assert harness.governance_head() == head, "a refused submission left a ledger entry"
    return error


def test_a_dataset_outside_the_roots_is_not_registered(harness: Harness) -> None:
    outside = harness.tmp.parent / f"{harness.tmp.name}-outside.jsonl"
    outside.write_text('{"text": "not under the root"}\n')
    try:
        error = refused(_register, harness, str(outside))
    finally:
        outside.unlink()
    assert (error.code.name, error.reason) == ("INVALID_ARGUMENT", "DATASET_URI_NOT_ALLOWED")


def test_a_registered_file_swapped_for_a_fifo_stops_the_submission(harness: Harness) -> None:
    draft = _swap(harness, os.mkfifo)
    error = _submission_refusal(harness, draft)
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION",
                                               "DATASET_NOT_REGULAR_FILE")
    assert "datasets/ds-train" in error.message


def test_a_registered_file_swapped_for_a_link_out_of_the_root_stops_it(
        harness: Harness) -> None:
    original = (harness.tmp / "train.jsonl").read_bytes()
    outside = harness.tmp.parent / f"{harness.tmp.name}-copy.jsonl"
    outside.write_bytes(original)  # the very same bytes: only where they live differs
    try:
        draft = _swap(harness, lambda path: path.symlink_to(outside))
        error = _submission_refusal(harness, draft)
    finally:
        outside.unlink()
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION",
                                               "DATASET_URI_NOT_ALLOWED")


def test_a_dataset_now_over_the_size_limit_stops_the_submission(harness: Harness) -> None:
    draft = harness.draft()
    size = (harness.tmp / "train.jsonl").stat().st_size
    harness.ctx.settings = dataclasses.replace(harness.ctx.settings,
                                               dataset_max_bytes=size - 1)
    error = _submission_refusal(harness, draft)
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION", "DATASET_TOO_LARGE")


def test_roots_changed_after_registration_are_the_ones_that_count(harness: Harness) -> None:
    draft = harness.draft()
    elsewhere = harness.tmp / "elsewhere"
    elsewhere.mkdir()
    harness.ctx.settings = dataclasses.replace(harness.ctx.settings,
                                               dataset_roots=(elsewhere,))
    error = _submission_refusal(harness, draft)
    assert error.reason == "DATASET_URI_NOT_ALLOWED"


def test_an_unknown_data_level_is_invalid_not_internal(harness: Harness) -> None:
    # Found by the fuzz: proto3 enums are open, so level 99 decoded and then failed as
    # INTERNAL when the registration was written to the ledger.
    head = harness.governance_head()
    error = refused(catalog.register, harness.ctx, DEVELOPER, pb.RegisterDatasetRequest(
        dataset=pb.Dataset(display_name="probe", uri=str(harness.tmp / "train.jsonl"),
                           source="the tests", legal_basis="own work",
                           data_level=99)))  # type: ignore[arg-type]
    assert (error.code.name, error.reason) == ("INVALID_ARGUMENT", "UNKNOWN_DATA_LEVEL")
    assert harness.governance_head() == head
