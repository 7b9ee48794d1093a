"""The fuzz engine without a platform: specs cover their services, generated and
mutated requests are what they claim, raw payloads are malformed the way they say, a
destructive method never receives a protected name, and the process watch sees deaths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf import message as pb_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz import wire  # noqa: E402
from fuzz.choose import RandomChooser  # noqa: E402
from fuzz.credentials import Credential, Credentials  # noqa: E402
from fuzz.engine import Planner  # noqa: E402
from fuzz.generate import Fixtures, Generator, message_class, resource_type  # noqa: E402
from fuzz.platform import Proc, Snapshot, compare  # noqa: E402
from fuzz.spec import MethodSpec, ServiceSpec, SpecError, check, discover  # noqa: E402
from fuzz.strategies import HypothesisChooser  # noqa: E402
from zhijian.registry.v1 import registry_service_pb2 as rpb  # noqa: E402

SPECS = discover()
REGISTRY = SPECS["zhijian.registry.v1.RegistryService"]
PROTECTED = "filings/f-0123456789ab"


class FakeCredentials(Credentials):
    """Tokens without identity files: the planner only needs header values."""

    def __init__(self) -> None:
        self._tokens = {}
        self.jtis = set()
        self.bad = [Credential("no credentials", None), Credential("garbage", "Bearer x")]

    def token(self, identity: str) -> str:
        return f"token-of-{identity}"


def fixtures() -> Fixtures:
    found = Fixtures()
    found.add("registry.zhijian.internal/Filing", PROTECTED)
    found.add("registry.zhijian.internal/Deployment", "deployments/zhijian-classify")
    found.add("registry.zhijian.internal/Filing", "filings/fuzz-draft", throwaway=True)
    return found


def test_every_routed_service_has_a_spec_covering_every_method() -> None:
    assert {"zhijian.registry.v1.RegistryService", "zhijian.classify.v1.ClassifyService"} <= \
        set(SPECS)
    for spec in SPECS.values():
        offered = {m.name for m in spec.descriptor.methods}
        assert offered == {m.name for m in spec.methods} | set(spec.skipped)


def test_a_spec_missing_a_method_is_refused() -> None:
    partial = ServiceSpec(REGISTRY.descriptor, REGISTRY.methods[1:])
    with pytest.raises(SpecError, match=REGISTRY.methods[0].name):
        check(partial)
    doubled = ServiceSpec(REGISTRY.descriptor, (*REGISTRY.methods, REGISTRY.methods[0]))
    with pytest.raises(SpecError, match="twice"):
        check(doubled)
    nobody = MethodSpec(REGISTRY.methods[0].name, (), lambda _: [])
    with pytest.raises(SpecError, match="no caller"):
        check(ServiceSpec(REGISTRY.descriptor, (nobody, *REGISTRY.methods[1:])))


def test_varints_match_the_protobuf_encoding() -> None:
    for value in (1, 127, 128, 300, 2**31 - 1):
        encoded = rpb.ListFilingsRequest(page_size=value).SerializeToString()
        assert encoded == wire.tag(1, wire.VARINT) + wire.varint(value)
    negative = rpb.ListFilingsRequest(page_size=-1).SerializeToString()
    assert negative == wire.tag(1, wire.VARINT) + wire.varint(-1)


def test_invalid_utf8_payloads_do_not_parse() -> None:
    seed = rpb.GetFilingRequest(name="filings/abcd")
    descriptor = rpb.DESCRIPTOR.message_types_by_name["GetFilingRequest"]
    for bad in wire.INVALID_UTF8:
        payload = seed.SerializeToString() + wire.delimited(1, bad)
        with pytest.raises(pb_message.DecodeError):
            rpb.GetFilingRequest.FromString(payload)
    chooser = RandomChooser(7)
    made = {wire.raw_payload(descriptor, [seed], chooser)[1].split(" ")[0] for _ in range(300)}
    assert {"invalid", "valid"} <= made


def test_resource_names_come_from_the_annotations() -> None:
    messages = rpb.DESCRIPTOR.message_types_by_name
    fields = messages["ApproveFilingRequest"].fields_by_name
    assert resource_type(fields["name"]) == "registry.zhijian.internal/Filing"
    assert resource_type(fields["validation_run"]) == "registry.zhijian.internal/ValidationRun"
    assert resource_type(fields["key_id"]) == ""
    assert resource_type(messages["Filing"].fields_by_name["name"]) == \
        "registry.zhijian.internal/Filing"


def test_every_request_type_generates_and_mutates() -> None:
    chooser = RandomChooser(11)
    for spec in SPECS.values():
        for method in spec.methods:
            descriptor = spec.descriptor.methods_by_name[method.name]
            generator = Generator(chooser, fixtures(), descriptor.containing_service.file)
            for _ in range(30):
                generated = generator.message(descriptor.input_type)
                assert isinstance(generated, message_class(descriptor.input_type))
                generated.SerializeToString()
            for seed in method.seeds(fixtures()):
                mutated, detail = generator.mutate(seed)
                mutated.SerializeToString()
                assert detail


def test_a_destructive_method_never_gets_a_protected_name() -> None:
    planner = Planner(REGISTRY, fixtures(), FakeCredentials(), shared=False)
    chooser = RandomChooser(3)
    destructive = {m.name for m in REGISTRY.methods if m.destructive}
    seen = set()
    for _ in range(3000):
        planned = planner.plan(chooser)
        if planned.method in destructive:
            seen.add(planned.method)
            assert PROTECTED.encode() not in planned.payload
            assert b"deployments/zhijian-classify" not in planned.payload
    assert seen == destructive


def test_a_shared_platform_gets_no_storing_calls() -> None:
    planner = Planner(REGISTRY, fixtures(), FakeCredentials(), shared=True)
    writers = {m.name for m in REGISTRY.methods if m.writes}
    assert writers and not writers & {m.name for m in planner.methods}
    assert writers <= set(planner.skipped)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_hypothesis_drives_the_same_planner(data: st.DataObject) -> None:
    planner = Planner(REGISTRY, fixtures(), FakeCredentials(), shared=False)
    planned = planner.plan(HypothesisChooser(data))
    assert planned.path.startswith("/")
    assert isinstance(planned.payload, bytes)
    if REGISTRY.method(planned.method).destructive:
        assert PROTECTED.encode() not in planned.payload


def _snapshot(pid: int, restarts: int, workers: list[Proc], phase: str = "running") -> Snapshot:
    return Snapshot(0.0, Proc(1, 1.0, "zhijian"), phase,
                    {"registry": {"pid": pid, "restarts": restarts, "status": "serving",
                                  "created": float(pid)}},
                    {"registry": workers})


def test_the_process_watch_sees_restarts_and_dead_workers() -> None:
    worker = Proc(50, 5.0, "worker")
    before = _snapshot(10, 0, [worker])
    assert compare(before, before) == []
    restarted = compare(before, _snapshot(11, 1, [worker]))
    assert any("restarted" in p for p in restarted)
    assert any("restart count" in p for p in restarted)
    orphaned = compare(before, _snapshot(10, 0, []))
    assert any("worker" in p for p in orphaned)
    stopping = compare(before, _snapshot(10, 0, [worker], phase="stopping"))
    assert any("phase" in p for p in stopping)
