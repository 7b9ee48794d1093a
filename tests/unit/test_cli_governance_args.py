"""``zhijian filing | deploy | audit`` through argparse: no identity, no action (exit 2
before anything is dialled), local usage errors, and the plumbing (signing, paging, exit
codes) against an in-process stand-in for the registry."""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from zhijian.cli import filing as filing_cli
from zhijian.cli import session
from zhijian.cli.audit import add_audit_commands
from zhijian.cli.deploy import add_deploy_commands
from zhijian.cli.filing import add_filing_commands
from zhijian.cli.identity import issue_identity
from zhijian.cli.output import Output
from zhijian.errors import PermissionDenied
from zhijian.identity import (
    IdentitySettings,
    IssuerKey,
    LocalIdentity,
    approval_statement,
    public_key_raw,
    verify_signature,
)
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc
from zhijian.supervisor import free_port

EVIDENCE = "e" * 64
PASSED_RUN_SHA = "1" * 64


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IdentitySettings:
    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    for name in ("ZHIJIAN_KEYS_DIR", "ZHIJIAN_IDENTITIES_DIR", "ZHIJIAN_AS",
                 "ZHIJIAN_REGISTRY_GRPC_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = IdentitySettings.from_env()
    IssuerKey.load_or_create(settings.keys_dir)
    return settings


def issue(settings: IdentitySettings, name: str, role: str) -> LocalIdentity:
    return issue_identity(settings.keys_dir, settings.identities_dir, name, None, [role],
                          "L4", None, settings)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    def invoke(*argv: str) -> Result:
        args = parser().parse_args(list(argv))
        capsys.readouterr()
        code = args.handler(args, Output(args.json))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)
    return invoke


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="zhijian")
    commands = root.add_subparsers(dest="command", required=True)
    add_filing_commands(commands)
    add_deploy_commands(commands)
    add_audit_commands(commands)
    return root


ACTIONS = [
    ["filing", "list", "--state", "approved", "--model", "m", "--due"],
    ["filing", "show", "f-abc"],
    ["filing", "create", "--file", "filing.json"],
    ["filing", "submit", "f-abc"],
    ["filing", "validate", "f-abc", "--limitation", "few records", "--wait"],
    ["filing", "approve", "f-abc", "--condition", "monthly review"],
    ["filing", "reject", "f-abc", "--reason", "r"],
    ["filing", "renew", "f-abc"],
    ["filing", "suspend", "f-abc", "--reason", "r"],
    ["filing", "reinstate", "f-abc", "--reason", "r"],
    ["filing", "retire", "f-abc", "--reason", "r"],
    ["deploy", "status"],
    ["deploy", "create", "m", "--serve-domain", "intranet"],
    ["deploy", "promote", "m"],
    ["deploy", "set-canary", "m", "--filing", "f-abc", "--weight", "10"],
    ["deploy", "rollback", "m", "--reason", "r"],
    ["deploy", "suspend", "m", "--reason", "r"],
    ["deploy", "resume", "m", "--reason", "r"],
    ["audit", "verify"],
    ["audit", "tail", "-n", "5"],
]


@pytest.mark.parametrize("argv", ACTIONS, ids=lambda argv: " ".join(argv[:2]))
def test_every_action_takes_identity_registry_and_json(argv: list[str]) -> None:
    args = parser().parse_args([*argv, "--as", "ada", "--registry", "h:1", "--json"])
    assert (args.as_identity, args.gateway, args.json) == ("ada", "h:1", True)
    assert callable(args.handler)


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    dialled: list[str] = []

    @contextlib.asynccontextmanager
    async def refuse(target: str) -> AsyncIterator[Any]:
        dialled.append(target)
        raise AssertionError("dialled the registry")
        yield  # pragma: no cover

    monkeypatch.setattr(session, "open_registry", refuse)
    return dialled


@pytest.mark.parametrize("argv", ACTIONS, ids=lambda argv: " ".join(argv[:2]))
def test_no_identity_no_action(settings: IdentitySettings, tmp_path: Path, cli: Any,
                               no_network: list[str], argv: list[str]) -> None:
    (tmp_path / "filing.json").write_text("{}")
    argv = [str(tmp_path / "filing.json") if a == "filing.json" else a for a in argv]
    result = cli(*argv)
    assert result.code == 2
    assert "no identity: pass --as NAME" in result.stderr
    assert no_network == []


def test_unknown_identity_is_a_usage_error(settings: IdentitySettings, cli: Any,
                                           no_network: list[str]) -> None:
    result = cli("audit", "verify", "--as", "ghost", "--json")
    assert result.code == 2 and "no identity ghost" in result.json()["error"]
    assert no_network == []


@pytest.mark.parametrize("argv, message", [
    (["filing", "list", "--state", "pending"], "unknown filing state 'pending'"),
    (["filing", "list", "--model", 'a"b'], "double quote"),
    (["filing", "show", "filings/"], "name a filing"),
    (["filing", "validate", "f-abc", "--wait", "--timeout", "0"], "--timeout"),
    (["filing", "create", "--file", "/nonexistent/filing.json"], "cannot read"),
    (["deploy", "set-canary", "m", "--clear", "--filing", "f-abc"], "--clear takes"),
    (["deploy", "set-canary", "m", "--filing", "f-abc"], "--weight"),
    (["deploy", "set-canary", "m", "--filing", "f-abc", "--weight", "101"], "1-100"),
    (["deploy", "status", "a/b"], "registered model"),
    (["audit", "tail", "-n", "0"], "at least 1"),
])
def test_local_usage_errors_exit_2_without_dialling(settings: IdentitySettings, cli: Any,
                                                    no_network: list[str], argv: list[str],
                                                    message: str) -> None:
    issue(settings, "ada", "platform_admin")
    result = cli(*argv, "--as", "ada")
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert no_network == []


def test_filing_json_with_a_misspelt_field_is_refused(settings: IdentitySettings,
                                                      tmp_path: Path, cli: Any,
                                                      no_network: list[str]) -> None:
    issue(settings, "dev", "model_developer")
    path = tmp_path / "filing.json"
    path.write_text(json.dumps({"identity": {"model": "m", "versoin": "7"}}))
    result = cli("filing", "create", "--file", str(path), "--as", "dev")
    assert result.code == 2 and "is not a Filing in JSON" in result.stderr


# --- against a stand-in registry ----------------------------------------------------------

def _run(name: str, state: pb.ValidationRunState, passed: bool, sha: str) -> pb.ValidationRun:
    return pb.ValidationRun(name=f"filings/f-abc/validationRuns/{name}", state=state,
                            passed=passed, record_sha256=sha)


@dataclass
class FakeRegistry(registry_service_pb2_grpc.RegistryServiceServicer):
    """Serves fixed records in small pages and checks approval signatures."""

    approver_key: bytes = b""
    approvals: list[pb.ApproveFilingRequest] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    polls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _note(self, request: Any, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.callers.append(dict(context.invocation_metadata())["authorization"])
            self.requests.append(request)

    @staticmethod
    def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
        start = int(token or 0)
        more = start + size < len(items)
        return items[start:start + size], str(start + size) if more else ""

    def filing(self) -> pb.Filing:
        return pb.Filing(name="filings/f-abc", filing_number="ZJ-2026-0001",
                         state=pb.FILING_STATE_VALIDATED, required_approvals=2,
                         evidence_sha256=EVIDENCE,
                         identity=pb.ModelIdentity(model="m", version="3"))

    def GetFiling(self, request: pb.GetFilingRequest,
                  context: grpc.ServicerContext) -> pb.Filing:
        self._note(request, context)
        filing = self.filing()
        filing.name = request.name
        return filing

    def ListFilings(self, request: pb.ListFilingsRequest,
                    context: grpc.ServicerContext) -> pb.ListFilingsResponse:
        self._note(request, context)
        filings = [pb.Filing(name=f"filings/f-{i}", filing_number=f"ZJ-2026-000{i}",
                             revalidation_due=i == 3) for i in range(1, 6)]
        page, token = self._page(filings, request.page_token, 2)
        return pb.ListFilingsResponse(filings=page, next_page_token=token)

    def ListValidationRuns(self, request: pb.ListValidationRunsRequest,
                           context: grpc.ServicerContext) -> pb.ListValidationRunsResponse:
        self._note(request, context)
        runs = [_run("r-3", pb.VALIDATION_RUN_STATE_FAILED, False, ""),
                _run("r-2", pb.VALIDATION_RUN_STATE_SUCCEEDED, False, "2" * 64),
                _run("r-1", pb.VALIDATION_RUN_STATE_SUCCEEDED, True, PASSED_RUN_SHA)]
        page, token = self._page(runs, request.page_token, 1)
        return pb.ListValidationRunsResponse(validation_runs=page, next_page_token=token)

    def ApproveFiling(self, request: pb.ApproveFilingRequest,
                      context: grpc.ServicerContext) -> pb.Filing:
        self._note(request, context)
        if request.name == "filings/f-mine":
            context.abort_with_status(PermissionDenied(
                "user:ada submitted filings/f-mine and so cannot approve it",
                reason="FILING_SEPARATION_OF_DUTIES").to_grpc_status())
        statement = approval_statement(
            filing=request.name, evidence_sha256=EVIDENCE,
            validation_run_sha256=request.validation_run_sha256, decision="approve",
            conditions=list(request.conditions))
        if not verify_signature(self.approver_key, statement, request.signature):
            context.abort_with_status(PermissionDenied(
                "bad signature", reason="APPROVAL_SIGNATURE_INVALID").to_grpc_status())
        with self.lock:
            self.approvals.append(request)
        filing = self.filing()
        filing.approvals.append(pb.Approval(approver="user:ada",
                                            decision=pb.APPROVAL_DECISION_APPROVE))
        return filing

    def ValidateFiling(self, request: pb.ValidateFilingRequest,
                       context: grpc.ServicerContext) -> pb.ValidationRun:
        self._note(request, context)
        return _run("r-4", pb.VALIDATION_RUN_STATE_RUNNING, False, "")

    def GetValidationRun(self, request: pb.GetValidationRunRequest,
                         context: grpc.ServicerContext) -> pb.ValidationRun:
        self._note(request, context)
        if request.name.endswith("/r-1"):
            return _run("r-1", pb.VALIDATION_RUN_STATE_SUCCEEDED, True, PASSED_RUN_SHA)
        with self.lock:
            self.polls += 1
            done = self.polls >= 2
        if not done:
            return _run("r-4", pb.VALIDATION_RUN_STATE_RUNNING, False, "")
        return _run("r-4", pb.VALIDATION_RUN_STATE_SUCCEEDED, False, "4" * 64)

    def ListAuditEvents(self, request: pb.ListAuditEventsRequest,
                        context: grpc.ServicerContext) -> pb.ListAuditEventsResponse:
        self._note(request, context)
        events = [pb.AuditEvent(sequence=i, actor="user:ada", action="filing.approve",
                                target="filings/f-abc") for i in range(1, 8)]
        page, token = self._page(events, request.page_token, 3)
        return pb.ListAuditEventsResponse(audit_events=page, next_page_token=token)

    def VerifyLedger(self, request: pb.VerifyLedgerRequest,
                     context: grpc.ServicerContext) -> pb.VerifyLedgerResponse:
        self._note(request, context)
        return pb.VerifyLedgerResponse(ok=False, entries_checked=9, problems=[pb.LedgerProblem(
            kind=pb.LEDGER_PROBLEM_KIND_ENTRY_MODIFIED, sequence=7, detail="hash mismatch")])


@pytest.fixture()
def registry(settings: IdentitySettings) -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_approve_signs_the_newest_passed_run(settings: IdentitySettings,
                                             registry: tuple[FakeRegistry, str],
                                             cli: Any) -> None:
    fake, target = registry
    ada = issue(settings, "ada", "platform_admin")
    fake.approver_key = public_key_raw(ada.signing_key())
    result = cli("filing", "approve", "f-abc", "--condition", "monthly review", "--as", "ada",
                 "--registry", target)
    assert result.code == 0, result.stderr
    [approved] = fake.approvals
    # Runs list newest first across pages of one: the FAILED and the failing run are skipped.
    assert approved.validation_run == "filings/f-abc/validationRuns/r-1"
    assert approved.validation_run_sha256 == PASSED_RUN_SHA
    assert list(approved.conditions) == ["monthly review"]
    assert approved.key_id == ada.signing_key_id
    assert "1 of 2 approvals" in result.stdout
    assert set(fake.callers) == {f"Bearer {ada.token}"}


def test_refusal_prints_code_reason_and_message(settings: IdentitySettings,
                                                registry: tuple[FakeRegistry, str],
                                                cli: Any) -> None:
    fake, target = registry
    ada = issue(settings, "ada", "platform_admin")
    fake.approver_key = public_key_raw(ada.signing_key())
    result = cli("filing", "approve", "f-mine", "--run", "r-1", "--as", "ada",
                 "--registry", target)
    assert result.code == 1
    assert "PERMISSION_DENIED [FILING_SEPARATION_OF_DUTIES]: user:ada submitted" in \
        result.stderr


def test_approve_on_an_unfinished_run_says_so(settings: IdentitySettings,
                                             registry: tuple[FakeRegistry, str],
                                             cli: Any) -> None:
    fake, target = registry
    issue(settings, "ada", "platform_admin")
    result = cli("filing", "approve", "f-abc", "--run", "filings/f-abc/validationRuns/r-4",
                 "--as", "ada", "--registry", target)
    assert result.code == 1
    assert "r-4 is RUNNING since" in result.stderr and "passed validation run" in result.stderr
    assert fake.approvals == []


def test_approve_needs_a_signing_key(settings: IdentitySettings,
                                     registry: tuple[FakeRegistry, str], cli: Any) -> None:
    fake, target = registry
    issue(settings, "rita", "reviewer")
    result = cli("filing", "approve", "f-abc", "--as", "rita", "--registry", target)
    assert result.code == 2 and "no signing key" in result.stderr
    assert fake.requests == []


def test_list_due_pages_through_everything(settings: IdentitySettings,
                                           registry: tuple[FakeRegistry, str],
                                           cli: Any) -> None:
    fake, target = registry
    issue(settings, "ada", "auditor")
    result = cli("filing", "list", "--due", "--model", "m", "--as", "ada", "--registry",
                 target, "--json")
    assert result.code == 0, result.stderr
    assert [f["name"] for f in result.json()["filings"]] == ["filings/f-3"]
    assert len(fake.requests) == 3  # five filings in pages of two
    assert fake.requests[0].filter == 'identity.model = "m"'


def test_validate_wait_reports_a_failing_verdict_with_exit_1(
        settings: IdentitySettings, registry: tuple[FakeRegistry, str], cli: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, target = registry
    monkeypatch.setattr(filing_cli, "POLL_INTERVAL_S", 0.01)
    issue(settings, "vic", "validator")
    result = cli("filing", "validate", "f-abc", "--wait", "--as", "vic", "--registry", target)
    assert result.code == 1, result.stderr
    assert "r-4: NOT PASSED" in result.stdout
    assert fake.polls == 2


def test_audit_tail_keeps_the_last_events(settings: IdentitySettings,
                                          registry: tuple[FakeRegistry, str],
                                          cli: Any) -> None:
    fake, target = registry
    issue(settings, "ada", "auditor")
    result = cli("audit", "tail", "-n", "2", "--action", "filing.approve", "--as", "ada",
                 "--registry", target, "--json")
    assert result.code == 0, result.stderr
    assert [e["sequence"] for e in result.json()["audit_events"]] == ["6", "7"]
    assert fake.requests[0].filter == 'action = "filing.approve"'
    assert fake.requests[0].parent == "ledgers/governance"


def test_audit_verify_exits_1_on_problems(settings: IdentitySettings,
                                          registry: tuple[FakeRegistry, str],
                                          cli: Any) -> None:
    fake, target = registry
    issue(settings, "ada", "auditor")
    text = cli("audit", "verify", "--as", "ada", "--registry", target)
    assert text.code == 1
    assert "ENTRY_MODIFIED at entry 7 (segment 0): hash mismatch" in text.stdout
    # Both ledgers unless told: the newcomer's `audit verify` checks everything.
    assert [r.name for r in fake.requests] == ["ledgers/governance", "ledgers/calls"]
    assert "ledgers/governance: NOT OK" in text.stdout and "ledgers/calls: NOT OK" in text.stdout
    both = cli("audit", "verify", "--as", "ada", "--registry", target, "--json")
    assert both.json()["ok"] is False
    assert [r["ledger"] for r in both.json()["ledgers"]] == ["ledgers/governance",
                                                             "ledgers/calls"]
    machine = cli("audit", "verify", "--ledger", "calls", "--as", "ada", "--registry", target,
                  "--json")
    assert machine.code == 1 and machine.json()["ok"] is False
    assert machine.json()["ledger"] == "ledgers/calls"


def test_unreachable_registry_exits_1(settings: IdentitySettings, cli: Any) -> None:
    issue(settings, "ada", "auditor")
    target = f"127.0.0.1:{free_port()}"
    result = cli("audit", "verify", "--as", "ada", "--registry", target)
    assert result.code == 1 and "not reachable" in result.stderr
