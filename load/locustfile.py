"""Locust users of the running platform, one class per caller profile and network domain,
each calling the gateway of its domain over gRPC with a demo identity's token.

Every request is reported to Locust as type ``grpc``, named ``<UserClass> <Method>
[<scenario>]``. A refusal the scenario expects (a resident ID number sent over the
internet, a level above the ceiling, a role calling what it may not) counts as a success
under a name that says so, e.g. ``InternetBusinessUser Classify [refused: resident id]``;
any other status is a failure. When Locust quits, the run fails (exit 1) if a class made
fewer than ``--min-requests-per-class`` requests or any request failed.

Bounded: loopback targets only; the run stops at ``--run-time`` or once every class made
``--max-requests-per-class`` requests. Configuration from the environment: ZHIJIAN_HOME
(or ZHIJIAN_IDENTITIES_DIR) for the identities, ZHIJIAN_GATEWAY_<DOMAIN>_PORT for the
gateways (defaults 50070-50072). Run it with ``python -m load`` (load/README.md).
"""

# ruff: noqa: E402
# grpc must be switched to gevent's event loop before any channel exists, hence the
# import order: everything else comes after this line.
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

import gevent
import grpc
from google.protobuf import message as pb_message
from locust import User, constant_throughput, events, task
from locust import stats as locust_stats
from locust.env import Environment
from locust.exception import StopUser

from load.profiles import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_USER_RATE,
    USER_CLASSES,
    corpus_texts,
    mobile_number,
    problems,
    require_loopback,
    resident_id_number,
    stat_name,
    tally,
)
from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.cli.stack import StackPorts
from zhijian.config import NETWORK_DOMAINS
from zhijian.errors import parse_error
from zhijian.identity import IdentitySettings, IssuerKey, LocalIdentity, issue_token, key_id_of
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc
from zhijian.types.v1 import ai_result_pb2 as types_pb

log = logging.getLogger("zhijian.load")

CALL_TIMEOUT_S: Final = 10.0
CLASSIFY_DEPLOYMENT: Final = "deployments/zhijian-classify"
# Identities `zhijian up` issues (zhijian/cli/bootstrap.py) that the users act as.
IDENTITIES: Final = ("business", "reviewer", "auditor", "sre", "admin", "developer")

OK: Final = grpc.StatusCode.OK
DENIED: Final = grpc.StatusCode.PERMISSION_DENIED
CEILING: Final = "DATA_LEVEL_EXCEEDS_CEILING"
ROLE: Final = "ROLE_NOT_PERMITTED"


@dataclass(frozen=True)
class Expect:
    """An outcome a scenario expects, and the label its requests are reported under."""

    code: grpc.StatusCode
    label: str
    reason: str | None = None  # None: any reason (UNAUTHENTICATED says nothing on purpose)

    def matches(self, code: grpc.StatusCode, reason: str) -> bool:
        return code == self.code and (self.reason is None or self.reason == reason)


class UnexpectedStatus(Exception):
    """What Locust records as the failure of a request that ended otherwise than expected."""


@dataclass(frozen=True)
class Settings:
    host: str
    ports: dict[str, int]
    tokens: dict[str, str]
    subjects: dict[str, str]
    forged_token: str
    min_requests: int
    max_requests: int
    user_rate: float

    def target(self, domain: str) -> str:
        return f"{self.host}:{self.ports[domain]}"


_settings: Settings | None = None
# Requests issued per user class (all its users together) and the classes that used up
# their budget; gevent runs one greenlet at a time, so plain dicts are safe.
_issued: dict[str, int] = {}
_exhausted: set[str] = set()


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("the locustfile's init listener has not run")
    return _settings


def _forged_token() -> str:
    """A well-formed token for the business identity, signed by a key nobody trusts."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    identity = IdentitySettings.from_env()
    return issue_token(IssuerKey(key, key_id_of(key.public_key())),
                       subject="user:review-system", roles=["business_system"],
                       clearance="L3", ttl_s=3600, issuer_name=identity.issuer_name,
                       audience=identity.audience).token


def _host(environment: Environment) -> str:
    if not environment.host:
        return "127.0.0.1"
    raw = environment.host
    return require_loopback(urlsplit(raw).hostname or "" if "://" in raw else raw)


def load_settings(environment: Environment) -> Settings:
    options = environment.parsed_options
    directory = IdentitySettings.from_env().identities_dir
    identities = {name: LocalIdentity.load(directory, name) for name in IDENTITIES}
    return Settings(
        host=_host(environment),
        ports=dict(StackPorts.from_env().gateways),
        tokens={name: i.token for name, i in identities.items()},
        subjects={name: i.subject for name, i in identities.items()},
        forged_token=_forged_token(),
        min_requests=int(getattr(options, "min_requests_per_class", DEFAULT_MIN_REQUESTS)),
        max_requests=int(getattr(options, "max_requests_per_class", DEFAULT_MAX_REQUESTS)),
        user_rate=float(getattr(options, "user_rate", DEFAULT_USER_RATE)),
    )


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("zhijian", "bounds and the pass rule of the run")
    group.add_argument("--max-requests-per-class", type=int, default=DEFAULT_MAX_REQUESTS,
                       env_var="ZHIJIAN_LOAD_MAX_REQUESTS",
                       help="stop a user class after this many requests (all its users)")
    group.add_argument("--min-requests-per-class", type=int, default=DEFAULT_MIN_REQUESTS,
                       env_var="ZHIJIAN_LOAD_MIN_REQUESTS",
                       help="fail the run if a user class made fewer requests")
    group.add_argument("--user-rate", type=float, default=DEFAULT_USER_RATE,
                       env_var="ZHIJIAN_LOAD_USER_RATE",
                       help="task runs per second of each simulated user")


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    global _settings
    try:
        _settings = load_settings(environment)
    except Exception as error:
        # Before any user starts: a wrong host or a platform that is not up is not a
        # load result, it is a usage error.
        log.error("cannot start the load test: %s", error)
        raise SystemExit(2) from error
    if _settings.max_requests < 1 or _settings.user_rate <= 0:
        log.error("--max-requests-per-class and --user-rate must be positive")
        raise SystemExit(2)
    log.info("gateways: %s", ", ".join(f"{d} {_settings.target(d)}" for d in NETWORK_DOMAINS))


@events.quitting.add_listener
def _verdict(environment: Environment, **_: Any) -> None:
    if environment.parsed_options is not None and environment.parsed_options.csv_prefix:
        # The users have stopped; Locust rewrites the CSV report every
        # CSV_STATS_INTERVAL_SEC. One more rewrite makes the file hold the final counts,
        # so that check_report sees what this check sees.
        gevent.sleep(locust_stats.CSV_STATS_INTERVAL_SEC + 0.2)
    totals = tally((entry.name, entry.num_requests, entry.num_failures)
                   for entry in environment.stats.entries.values())
    ran = [cls.__name__ for cls in environment.user_classes]
    for name in ran:
        seen = totals.get(name)
        log.info("%-22s %6d requests, %d unexpected", name, seen.requests if seen else 0,
                 seen.failures if seen else 0)
    found = problems(totals, ran, settings().min_requests)
    for problem in found:
        log.error("load test failed: %s", problem)
    if found:
        environment.process_exit_code = 1


def _paced(user: User) -> float:
    return constant_throughput(settings().user_rate)(user)


class GatewayUser(User):
    """A caller of the gateways: one channel per network domain it uses, the demo
    identities' tokens, and the expected-outcome bookkeeping."""

    abstract = True
    wait_time = _paced

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.rng = random.Random()
        self._channels: dict[str, grpc.Channel] = {}
        self._classify: dict[str, cgrpc.ClassifyServiceStub] = {}
        self._registry: dict[str, rgrpc.RegistryServiceStub] = {}

    def on_stop(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _channel(self, domain: str) -> grpc.Channel:
        channel = self._channels.get(domain)
        if channel is None:
            channel = self._channels[domain] = grpc.insecure_channel(
                settings().target(domain))
        return channel

    def classify(self, domain: str) -> cgrpc.ClassifyServiceStub:
        if domain not in self._classify:
            self._classify[domain] = cgrpc.ClassifyServiceStub(self._channel(domain))
        return self._classify[domain]

    def registry(self, domain: str) -> rgrpc.RegistryServiceStub:
        if domain not in self._registry:
            self._registry[domain] = rgrpc.RegistryServiceStub(self._channel(domain))
        return self._registry[domain]

    def text(self) -> str:
        return self.rng.choice(corpus_texts())

    def _spend(self) -> None:
        """One request of the class's budget; past it, this user stops, and once every
        class has stopped the run ends."""
        name = type(self).__name__
        _issued[name] = _issued.get(name, 0) + 1
        if _issued[name] <= settings().max_requests:
            return
        if name not in _exhausted:
            _exhausted.add(name)
            log.info("%s made its %d requests", name, settings().max_requests)
            running = {cls.__name__ for cls in self.environment.user_classes}
            runner = self.environment.runner
            if running <= _exhausted and runner is not None:
                # Not from this greenlet: quitting kills every user, this one included.
                gevent.spawn(runner.quit)
        raise StopUser()

    def rpc(self, method: str, invoke: Callable[..., Any], request: pb_message.Message,
            expected: Sequence[Expect], *, caller: str | None,
            token: str | None = None, data_level: str | None = None) -> Any:
        """Call, time and report one RPC; the response if it succeeded, else None.

        ``caller`` names the demo identity whose token is sent (None: no credentials,
        unless ``token`` is given)."""
        self._spend()
        metadata = [(md.REQUEST_ID, uuid.uuid4().hex)]
        bearer = token if token is not None else (
            settings().tokens[caller] if caller is not None else None)
        if bearer is not None:
            metadata.append((md.AUTHORIZATION, f"Bearer {bearer}"))
        if data_level is not None:
            metadata.append((md.DATA_LEVEL, data_level))
        response: Any = None
        code, reason, message = OK, "", ""
        started = time.perf_counter()
        try:
            response = invoke(request, timeout=CALL_TIMEOUT_S, metadata=metadata)
        except grpc.RpcError as error:
            parsed = parse_error(error)
            code, reason, message = parsed.code, parsed.reason, parsed.message
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        match = next((e for e in expected if e.matches(code, reason)), None)
        failure = None
        if match is None:
            wanted = " or ".join(f"{e.code.name}{'/' + e.reason if e.reason else ''}"
                                 for e in expected)
            failure = UnexpectedStatus(f"{code.name}/{reason or '-'} instead of {wanted}: "
                                       f"{message[:200]}")
        self.environment.events.request.fire(
            request_type="grpc",
            name=stat_name(type(self).__name__, method, (match or expected[0]).label),
            response_time=elapsed_ms,
            response_length=response.ByteSize() if response is not None else 0,
            exception=failure, context={"code": code.name, "reason": reason})
        return response if code == OK else None


PUBLIC_ON_INTERNET: Final = (
    Expect(OK, "public"),
    # The seed model is filed for the intranet and extranet only: the gateway lets the
    # call through and the service refuses it before any model, as it must.
    Expect(DENIED, "refused: model not filed for internet", "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"),
)


class InternetBusinessUser(GatewayUser):
    """A public-facing business system: public product texts, now and then a request
    carrying personal data or declaring a level the internet may not carry."""

    domain: ClassVar[str] = "internet"

    @task(6)
    def classify_public(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text()), PUBLIC_ON_INTERNET, caller="business")

    @task(2)
    def classify_batch_public(self) -> None:
        requests = [cpb.ClassifyRequest(text=self.text()) for _ in range(self.rng.randint(2, 6))]
        self.rpc("ClassifyBatch", self.classify(self.domain).ClassifyBatch,
                 cpb.ClassifyBatchRequest(requests=requests), PUBLIC_ON_INTERNET,
                 caller="business")

    @task(1)
    def classify_with_resident_id(self) -> None:
        text = f"申请人身份证号 {resident_id_number(self.rng)}，{self.text()}"
        self.rpc("Classify", self.classify(self.domain).Classify, cpb.ClassifyRequest(text=text),
                 [Expect(DENIED, "refused: resident id", CEILING)], caller="business")

    @task(1)
    def classify_declared_l2(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(DENIED, "refused: declared L2 above internet L1", CEILING)],
                 caller="business", data_level="L2")


class ExtranetBusinessUser(GatewayUser):
    """A business system on the government extranet (ceiling L3): general data declared
    L2, single texts and batches; now and then a level or a marking that must be refused."""

    domain: ClassVar[str] = "extranet"

    @task(4)
    def classify_declared_l2(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text(), display_language=self.rng.choice(
                     ("zh", "en"))),
                 [Expect(OK, "declared L2")], caller="business", data_level="L2")

    @task(2)
    def classify_batch_l2(self) -> None:
        requests = [cpb.ClassifyRequest(text=self.text(), data_level=types_pb.DATA_LEVEL_L2_GENERAL)
                    for _ in range(self.rng.randint(2, 8))]
        self.rpc("ClassifyBatch", self.classify(self.domain).ClassifyBatch,
                 cpb.ClassifyBatchRequest(requests=requests), [Expect(OK, "declared L2")],
                 caller="business")

    @task(1)
    def classify_declared_l3(self) -> None:
        # Within the extranet's L3, above the seed filing's L2: refused by the service.
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(DENIED, "refused: declared L3 above the filing's L2", CEILING)],
                 caller="business", data_level="L3")

    @task(1)
    def classify_batch_with_mobile_number(self) -> None:
        requests = [cpb.ClassifyRequest(text=self.text()) for _ in range(self.rng.randint(1, 4))]
        requests.append(cpb.ClassifyRequest(
            text=f"{self.text()} 联系人手机 {mobile_number(self.rng)}"))
        self.rng.shuffle(requests)
        self.rpc("ClassifyBatch", self.classify(self.domain).ClassifyBatch,
                 cpb.ClassifyBatchRequest(requests=requests),
                 [Expect(DENIED, "refused: mobile number above the filing's L2", CEILING)],
                 caller="business")

    @task(1)
    def classify_declared_l4(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(DENIED, "refused: declared L4 above extranet L3", CEILING)],
                 caller="business", data_level="L4")

    @task(1)
    def classify_marked_document(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=f"机密★五年 {self.text()}"),
                 [Expect(DENIED, "refused: classification marking", "CLASSIFIED_MARKING")],
                 caller="business")


_DECISIONS: Final = ((types_pb.REVIEW_DECISION_ACCEPT, "accept", 6),
                     (types_pb.REVIEW_DECISION_MODIFY, "modify", 3),
                     (types_pb.REVIEW_DECISION_REJECT, "reject", 1))


class IntranetReviewerUser(GatewayUser):
    """A reviewer at work on the intranet: the business system drafts a result, the
    reviewer accepts, modifies or rejects it under their own credentials."""

    domain: ClassVar[str] = "intranet"

    @task(5)
    def review_a_draft(self) -> None:
        drafted = self.rpc("Classify", self.classify(self.domain).Classify,
                           cpb.ClassifyRequest(text=self.text()),
                           [Expect(OK, "draft for review")], caller="business")
        if drafted is None:
            return
        name = f"results/{drafted.result.result_id}"
        decision, label, _ = self.rng.choices(_DECISIONS, weights=[d[2] for d in _DECISIONS])[0]
        request = cpb.ReviewResultRequest(name=name, decision=decision,
                                          reviewer=settings().subjects["reviewer"])
        if label != "accept":
            request.reason = "产品描述与分类目录条目不符" if label == "reject" else "按分类目录调整"
        if label == "modify":
            first = drafted.results[0]
            # The reviewer picks the model's runner-up label, as people usually do.
            runner_up = first.probabilities[1].label if len(first.probabilities) > 1 \
                else first.label
            request.modified_labels.append(cpb.TaskLabel(task=first.task, label=runner_up))
        stub = self.classify(self.domain)
        if self.rpc("ReviewResult", stub.ReviewResult, request, [Expect(OK, label)],
                    caller="reviewer") is not None and self.rng.random() < 0.25:
            self.rpc("ReviewResult", stub.ReviewResult, request,
                     [Expect(grpc.StatusCode.ALREADY_EXISTS, "refused: already reviewed",
                             "RESULT_ALREADY_REVIEWED")], caller="reviewer")

    @task(1)
    def review_unknown_result(self) -> None:
        self.rpc("ReviewResult", self.classify(self.domain).ReviewResult,
                 cpb.ReviewResultRequest(name=f"results/{uuid.uuid4().hex}",
                                         decision=types_pb.REVIEW_DECISION_ACCEPT,
                                         reviewer=settings().subjects["reviewer"]),
                 [Expect(grpc.StatusCode.NOT_FOUND, "refused: no such result",
                         "RESULT_NOT_FOUND")], caller="reviewer")

    @task(1)
    def review_in_another_name(self) -> None:
        self.rpc("ReviewResult", self.classify(self.domain).ReviewResult,
                 cpb.ReviewResultRequest(name=f"results/{uuid.uuid4().hex}",
                                         decision=types_pb.REVIEW_DECISION_ACCEPT,
                                         reviewer="user:someone.else"),
                 [Expect(DENIED, "refused: reviewer is not the caller",
                         "REVIEWER_NOT_CALLER")], caller="reviewer")

    @task(1)
    def reviewer_classifies(self) -> None:
        self.rpc("Classify", self.classify(self.domain).Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(DENIED, "refused: reviewers do not classify", ROLE)],
                 caller="reviewer")


class IntranetAuditorUser(GatewayUser):
    """An auditor reading the filings and paging through the ledgers."""

    domain: ClassVar[str] = "intranet"

    @task(3)
    def page_the_calls_ledger(self) -> None:
        token = ""
        for _ in range(self.rng.randint(1, 3)):
            page = self.rpc("ListAuditEvents", self.registry(self.domain).ListAuditEvents,
                            rpb.ListAuditEventsRequest(parent="ledgers/calls", page_size=100,
                                                       page_token=token),
                            [Expect(OK, "calls ledger page")], caller="auditor")
            if page is None or not page.next_page_token:
                return
            token = page.next_page_token

    @task(1)
    def read_the_governance_ledger(self) -> None:
        self.rpc("ListAuditEvents", self.registry(self.domain).ListAuditEvents,
                 rpb.ListAuditEventsRequest(parent="ledgers/governance", page_size=50),
                 [Expect(OK, "governance ledger page")], caller="auditor")

    @task(2)
    def read_filings(self) -> None:
        listed = self.rpc("ListFilings", self.registry(self.domain).ListFilings,
                          rpb.ListFilingsRequest(page_size=20), [Expect(OK, "filings")],
                          caller="auditor")
        if listed is not None and listed.filings:
            self.rpc("GetFiling", self.registry(self.domain).GetFiling,
                     rpb.GetFilingRequest(name=self.rng.choice(listed.filings).name),
                     [Expect(OK, "listed filing")], caller="auditor")

    @task(1)
    def who_am_i(self) -> None:
        self.rpc("GetCallerIdentity", self.registry(self.domain).GetCallerIdentity,
                 rpb.GetCallerIdentityRequest(), [Expect(OK, "self")], caller="auditor")


class IntranetSreUser(GatewayUser):
    """An SRE watching the deployments (and not allowed to approve anything)."""

    domain: ClassVar[str] = "intranet"

    @task(3)
    def get_the_classify_deployment(self) -> None:
        self.rpc("GetDeployment", self.registry(self.domain).GetDeployment,
                 rpb.GetDeploymentRequest(name=CLASSIFY_DEPLOYMENT),
                 [Expect(OK, "classify deployment")], caller="sre")

    @task(2)
    def list_deployments(self) -> None:
        self.rpc("ListDeployments", self.registry(self.domain).ListDeployments,
                 rpb.ListDeploymentsRequest(page_size=50), [Expect(OK, "deployments")],
                 caller="sre")

    @task(1)
    def get_a_missing_deployment(self) -> None:
        self.rpc("GetDeployment", self.registry(self.domain).GetDeployment,
                 rpb.GetDeploymentRequest(name="deployments/load-test-absent"),
                 [Expect(grpc.StatusCode.NOT_FOUND, "refused: no such deployment")],
                 caller="sre")

    @task(1)
    def try_to_approve(self) -> None:
        # Denied by role at the gateway; the filing does not exist either, so even a
        # policy mistake could not approve anything.
        self.rpc("ApproveFiling", self.registry(self.domain).ApproveFiling,
                 rpb.ApproveFilingRequest(name="filings/load-test-absent"),
                 [Expect(DENIED, "refused: sre may not approve", ROLE)], caller="sre")


class UnauthorizedMixUser(GatewayUser):
    """Callers every gateway must turn away: no or forged credentials, and roles calling
    what their domain or role does not allow. Every request is an expected refusal."""

    @task(2)
    def anonymous_classify(self) -> None:
        self.rpc("Classify", self.classify("internet").Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(grpc.StatusCode.UNAUTHENTICATED, "refused: no credentials")],
                 caller=None)

    @task(2)
    def forged_token(self) -> None:
        self.rpc("Classify", self.classify("extranet").Classify,
                 cpb.ClassifyRequest(text=self.text()),
                 [Expect(grpc.StatusCode.UNAUTHENTICATED, "refused: forged token")],
                 caller=None, token=settings().forged_token)

    @task(2)
    def business_reads_filings(self) -> None:
        self.rpc("ListFilings", self.registry("intranet").ListFilings,
                 rpb.ListFilingsRequest(page_size=10),
                 [Expect(DENIED, "refused: business may not read filings", ROLE)],
                 caller="business")

    @task(1)
    def admin_suspends_from_internet(self) -> None:
        self.rpc("SuspendDeployment", self.registry("internet").SuspendDeployment,
                 rpb.SuspendDeploymentRequest(name="deployments/load-test-absent",
                                              reason="load test: must be refused"),
                 [Expect(DENIED, "refused: registry write from internet", ROLE)],
                 caller="admin")

    @task(1)
    def auditor_reads_trail_from_extranet(self) -> None:
        self.rpc("ListAuditEvents", self.registry("extranet").ListAuditEvents,
                 rpb.ListAuditEventsRequest(parent="ledgers/calls", page_size=10),
                 [Expect(DENIED, "refused: audit trail from extranet", ROLE)],
                 caller="auditor")

    @task(1)
    def reviewer_from_internet(self) -> None:
        self.rpc("ReviewResult", self.classify("internet").ReviewResult,
                 cpb.ReviewResultRequest(name=f"results/{uuid.uuid4().hex}",
                                         decision=types_pb.REVIEW_DECISION_ACCEPT),
                 [Expect(DENIED, "refused: review from internet", ROLE)], caller="reviewer")

    @task(1)
    def developer_files_from_extranet(self) -> None:
        self.rpc("CreateFiling", self.registry("extranet").CreateFiling,
                 rpb.CreateFilingRequest(),
                 [Expect(DENIED, "refused: registry write from extranet", ROLE)],
                 caller="developer")


_defined = sorted(cls.__name__ for cls in GatewayUser.__subclasses__())
if _defined != sorted(USER_CLASSES):
    # check_report reads the class list from load/profiles.py: they must agree.
    raise RuntimeError(f"user classes {_defined} differ from profiles.USER_CLASSES")
