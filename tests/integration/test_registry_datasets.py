"""RegisterDataset against a real registry process (``python -m registry`` on a loopback
port, SQLite, an MLflow SQLite store it never needs here), called the way a gateway
forwards a person's call: files outside the dataset roots, files that are not regular
files and files over the size limit are refused at once, and a hostile file never stops
the registry from answering its other calls.

Every call carries a deadline and every test a timeout: before the fix a FIFO wedged the
registry's worker threads, and a regression must fail here, not hang the suite."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from zhijian import identity
from zhijian.assertion import AssertionSigner, assertion_metadata
from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc
from zhijian.supervisor import free_port, grpc_serving
from zhijian.types.v1 import ai_result_pb2 as types_pb

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "zhijian.registry.v1.RegistryService"
# The caller's credentials, one per role set the tests act with (a credential is
# admitted only with the roles it was recorded with).
CALLER_ROLES = (("model_developer",), ("sre",))


def credential_id(roles: tuple[str, ...]) -> str:
    return "tests-dev-zhang-" + "-".join(roles)
MAX_BYTES = 64 * 1024
# A refusal is a few system calls; anything near the deadline means the registry blocked.
PROMPT_S = 3.0
CALL_TIMEOUT_S = 8.0
ADDRESS_SPACE_BYTES = 4 << 30


@dataclass
class RunningRegistry:
    target: str
    home: Path
    root: Path  # the one dataset root this registry allows
    outside: Path  # a folder beside the root, holding a real file
    signer: AssertionSigner
    process: subprocess.Popen[bytes]
    log: Path

    def stub(self) -> Any:
        channel = grpc.insecure_channel(self.target)
        return registry_service_pb2_grpc.RegistryServiceStub(channel)

    def meta(self, roles: tuple[str, ...] = ("model_developer",)) -> tuple[tuple[str, str], ...]:
        return assertion_metadata(self.signer, subject="user:dev.zhang", roles=roles,
                                  clearance="L3", domain="intranet", audience=REGISTRY,
                                  credential_id=credential_id(roles))


def _bounded_memory() -> None:
    # Run against a registry that reads /dev/zero to the end, this must fail with a
    # MemoryError in that process, not take the shared test machine down with it.
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def _start(tmp: Path, *, max_bytes: int = MAX_BYTES,
           more_roots: tuple[Path, ...] = ()) -> RunningRegistry:
    home, root, outside = tmp / "home", tmp / "datasets", tmp / "elsewhere"
    for folder in (home, root, outside):
        folder.mkdir()
    (outside / "secret.jsonl").write_text('{"text": "not for the registry"}\n')
    keys = identity.IdentitySettings.from_env({"ZHIJIAN_HOME": str(home)}).keys_dir
    identity.IssuerKey.load_or_create(keys)
    signer = AssertionSigner.load_or_create(keys, issuer="svc:tests", domain="intranet")
    # The caller's credential, recorded the way `zhijian up`'s first start records its own:
    # the registry admits no credential it has no record of.
    (home / "registry").mkdir()
    (home / "registry" / identity.BOOTSTRAP_CREDENTIALS).write_text(json.dumps([{
        "id": credential_id(roles), "kind": "token", "subject": "user:dev.zhang",
        "roles": list(roles), "clearance": "L3", "expire_time": time.time() + 3600}
        for roles in CALLER_ROLES]))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ZHIJIAN_")},
        "ZHIJIAN_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "ZHIJIAN_REGISTRY_GRPC_PORT": str(port),
        "ZHIJIAN_REGISTRY_METRICS_PORT": str(free_port()),
        "ZHIJIAN_REGISTRY_RECONCILE_INTERVAL_S": "3600",
        "ZHIJIAN_DATASET_ROOTS": os.pathsep.join(map(str, (root, *more_roots))),
        "ZHIJIAN_DATASET_MAX_BYTES": str(max_bytes),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = tmp / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "registry"], env=env, cwd=tmp,
                                   stdout=sink, stderr=subprocess.STDOUT,
                                   preexec_fn=_bounded_memory)
    target = f"127.0.0.1:{port}"
    running = RunningRegistry(target, home, root, outside, signer, process, log)
    import asyncio

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the registry exited with {process.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        if asyncio.run(grpc_serving(target, 1.0)):
            return running
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the registry did not become ready:\n"
                       + log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = _start(tmp_path_factory.mktemp("registry-datasets"))
    try:
        yield running
    finally:
        # SIGKILL at once: a registry wedged by the old behaviour would never finish a
        # graceful stop (its blocked threads are joined at exit).
        running.process.kill()
        running.process.wait(timeout=30)


def _dataset(uri: str) -> pb.Dataset:
    return pb.Dataset(display_name="probe", uri=uri, source="the tests",
                      legal_basis="own work", data_level=types_pb.DATA_LEVEL_L1_PUBLIC)


def _register(registry: RunningRegistry, uri: str, dataset_id: str = "") -> Any:
    return registry.stub().RegisterDataset(
        pb.RegisterDatasetRequest(dataset_id=dataset_id, dataset=_dataset(uri)),
        metadata=registry.meta(), timeout=CALL_TIMEOUT_S)


def _refusal(registry: RunningRegistry, uri: str) -> tuple[grpc.StatusCode, str, str, float]:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as refused:
        _register(registry, uri)
    took = time.monotonic() - started
    parsed = parse_error(refused.value)
    return parsed.code, parsed.reason, parsed.message, took


def _lines(count: int) -> str:
    return "".join(json.dumps({"text": f"样本 {i}"}, ensure_ascii=False) + "\n"
                   for i in range(count))


def test_a_dataset_under_the_root_is_registered(registry: RunningRegistry) -> None:
    path = registry.root / "good.jsonl"
    path.write_text(_lines(3), encoding="utf-8")
    plain = _register(registry, str(path), "ds-good")
    assert (plain.name, plain.record_count) == ("datasets/ds-good", 3)
    as_uri = _register(registry, f"file://{path}", "ds-good-uri")
    assert as_uri.sha256 == plain.sha256


def test_a_fifo_is_refused_at_once(registry: RunningRegistry) -> None:
    fifo = registry.root / "pipe.jsonl"
    os.mkfifo(fifo)  # no writer, ever: opening it for reading the ordinary way blocks
    code, reason, _, took = _refusal(registry, str(fifo))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "DATASET_NOT_REGULAR_FILE")
    assert took < PROMPT_S


def test_the_registry_keeps_answering_while_fifos_are_registered(
        registry: RunningRegistry) -> None:
    fifos = []
    for i in range(12):  # more than the registry's worker threads
        fifo = registry.root / f"flood-{i}.jsonl"
        os.mkfifo(fifo)
        fifos.append(fifo)
    stub = registry.stub()
    pending = [stub.RegisterDataset.future(
        pb.RegisterDatasetRequest(dataset=_dataset(str(f))), metadata=registry.meta(),
        timeout=CALL_TIMEOUT_S) for f in fifos]
    # While (or right after) the flood arrives: reads, identity and the deployment watch
    # every serving process depends on all still answer promptly.
    started = time.monotonic()
    stub.ListDatasets(pb.ListDatasetsRequest(), metadata=registry.meta(), timeout=PROMPT_S)
    who = stub.GetCallerIdentity(pb.GetCallerIdentityRequest(), metadata=registry.meta(),
                                 timeout=PROMPT_S)
    assert who.subject == "user:dev.zhang"
    stream = stub.WatchDeployments(pb.WatchDeploymentsRequest(), metadata=registry.meta(
        ("sre",)), timeout=PROMPT_S)
    first = next(iter(stream))
    stream.cancel()
    assert first is not None
    assert time.monotonic() - started < PROMPT_S
    reasons = set()
    for future in pending:  # each is bounded by its own deadline
        error = future.exception()
        assert isinstance(error, grpc.RpcError), "a FIFO was registered"
        reasons.add(parse_error(error).reason)
    assert time.monotonic() - started < PROMPT_S, "the FIFO registrations were not refused at once"
    # Refused for what the file is, or (if the flood outran the read threads) for being one
    # read too many; never left waiting.
    assert reasons <= {"DATASET_NOT_REGULAR_FILE", "DATASET_READS_BUSY"}, reasons
    assert "DATASET_NOT_REGULAR_FILE" in reasons


def test_dev_zero_is_refused_at_once(registry: RunningRegistry) -> None:
    code, reason, _, took = _refusal(registry, "/dev/zero")
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "DATASET_URI_NOT_ALLOWED")
    assert took < PROMPT_S


def test_paths_out_of_the_root_are_refused_alike(registry: RunningRegistry) -> None:
    secret = registry.outside / "secret.jsonl"
    (registry.root / "link.jsonl").symlink_to(secret)
    (registry.root / "linked-dir").symlink_to(registry.outside, target_is_directory=True)
    probes = {
        "an existing file outside": str(secret),
        "a missing file outside": str(registry.outside / "absent.jsonl"),
        "a path with ..": f"{registry.root}/../{registry.outside.name}/secret.jsonl",
        "a .. that stays inside": f"{registry.root}/sub/../good.jsonl",
        "a symlink out of the root": str(registry.root / "link.jsonl"),
        "a symlinked folder out of the root": str(registry.root / "linked-dir" /
                                                  "secret.jsonl"),
        "a missing file under a symlinked folder": str(registry.root / "linked-dir" /
                                                       "absent.jsonl"),
        "a file:// URI outside": f"file://{secret}",
        "/etc/passwd": "/etc/passwd",
    }
    answers = {}
    for what, uri in probes.items():
        code, reason, message, took = _refusal(registry, uri)
        assert took < PROMPT_S, what
        answers[what] = (code, reason, message)
    # One answer for all of them: nothing tells whether the path exists out there.
    assert set(answers.values()) == {(grpc.StatusCode.INVALID_ARGUMENT,
                                      "DATASET_URI_NOT_ALLOWED", answers["/etc/passwd"][2])}
    assert str(registry.outside) not in answers["/etc/passwd"][2]


def test_an_oversized_file_is_refused_at_once(registry: RunningRegistry) -> None:
    big = registry.root / "big.jsonl"
    big.write_text(_lines(MAX_BYTES // 8), encoding="utf-8")
    assert big.stat().st_size > MAX_BYTES
    code, reason, _, took = _refusal(registry, str(big))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "DATASET_TOO_LARGE")
    assert took < PROMPT_S


def test_other_uri_schemes_are_refused_clearly(registry: RunningRegistry) -> None:
    for uri in ("s3://bucket/train.jsonl", "https://example.org/train.jsonl"):
        code, reason, message, _ = _refusal(registry, uri)
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                  "DATASET_URI_SCHEME_UNSUPPORTED")
        assert "file" in message


# --- datasets per task type, and provenance -------------------------------------------

# Resolved: the registry refuses paths through a symbolic link, and ../shared may be one.
SHARED = (REPO.parent / "shared" / "datasets").resolve()
NMPA = SHARED / "nmpa_classification_determinations" / "determinations.jsonl"


@pytest.fixture(scope="module")
def wide_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry that may read the shared public datasets (and files of their size)."""
    roots = (SHARED,) if SHARED.is_dir() else ()
    running = _start(tmp_path_factory.mktemp("registry-task-types"), max_bytes=64 << 20,
                     more_roots=roots)
    try:
        yield running
    finally:
        running.process.kill()
        running.process.wait(timeout=30)


def _register_as(registry: RunningRegistry, dataset: pb.Dataset, dataset_id: str) -> Any:
    return registry.stub().RegisterDataset(
        pb.RegisterDatasetRequest(dataset_id=dataset_id, dataset=dataset),
        metadata=registry.meta(), timeout=CALL_TIMEOUT_S)


def _refused_as(registry: RunningRegistry, dataset: pb.Dataset) -> Any:
    with pytest.raises(grpc.RpcError) as refused:
        _register_as(registry, dataset, "")
    return parse_error(refused.value)


def test_a_span_dataset_registers_by_its_task_type_schema(wide_registry) -> None:
    path = wide_registry.root / "dates.jsonl"
    text = "患者于2021年3月5日用药，3月9日出现皮疹。"
    path.write_text(json.dumps({"text": text, "spans": [
        {"field": "date", "start": 3, "end": 12}, {"field": "date", "start": 16, "end": 20}]},
        ensure_ascii=False) + "\n", encoding="utf-8")
    dataset = _dataset(str(path))
    dataset.task_type = "span_extraction"
    registered = _register_as(wide_registry, dataset, "ds-dates")
    assert (registered.task_type, registered.record_count) == ("span_extraction", 1)

    # A span past the end of its text is not a span record.
    path.write_text(json.dumps({"text": "短", "spans": [{"field": "date", "start": 0,
                                                         "end": 9}]}) + "\n")
    error = _refused_as(wide_registry, dataset)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                          "DATASET_MALFORMED")
    assert "past the text's 1 characters" in error.message and "spans" in error.message

    dataset.task_type = "regression"
    error = _refused_as(wide_registry, dataset)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                          "UNKNOWN_TASK_TYPE")
    assert "span_extraction" in error.message  # the known ones are named


@pytest.mark.skipif(not NMPA.is_file(), reason="../shared/datasets is not on this machine")
def test_a_public_file_registers_through_its_transform_with_provenance(wide_registry) -> None:
    from services.classify.datasets import nmpa_rows
    from zhijian.derived_datasets import derive

    out = wide_registry.root / "nmpa.jsonl"
    derivation = derive(NMPA, nmpa_rows, out)
    dataset = _dataset(str(out))
    dataset.derived_from.CopyFrom(pb.DatasetDerivation(**derivation.fields()))
    registered = _register_as(wide_registry, dataset, "ds-nmpa")
    assert registered.record_count == derivation.records > 3000
    assert registered.task_type == "text_classification"
    assert registered.derived_from.source_sha256 == derivation.source_sha256
    assert registered.derived_from.transform == "services.classify.datasets.nmpa_rows"
    fetched = wide_registry.stub().GetDataset(pb.GetDatasetRequest(name=registered.name),
                                              metadata=wide_registry.meta(),
                                              timeout=CALL_TIMEOUT_S)
    assert fetched.derived_from == registered.derived_from

    # A provenance that names another state of the source file is refused.
    dataset.derived_from.source_sha256 = "0" * 64
    error = _refused_as(wide_registry, dataset)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                          "SOURCE_HASH_MISMATCH")
    assert derivation.source_sha256 in error.message
