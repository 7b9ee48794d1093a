"""The gateway's method table, read from the generated descriptors."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool

from gateway.routes import build_routes, known_services
from zhijian.classify.v1 import classify_service_pb2
from zhijian.extract.v1 import extract_service_pb2
from zhijian.orchestrator.v1 import orchestrator_service_pb2
from zhijian.registry.v1 import registry_service_pb2
from zhijian.risk.v1 import risk_service_pb2

MODULES = (classify_service_pb2, extract_service_pb2, risk_service_pb2,
           orchestrator_service_pb2, registry_service_pb2)


def test_every_method_of_every_zhijian_service_is_routable() -> None:
    routes = build_routes()
    expected = {f"/{service.full_name}/{method.name}"
                for module in MODULES for service in module.DESCRIPTOR.services_by_name.values()
                for method in service.methods}
    assert set(routes) == expected and len(expected) > 40
    assert known_services() == {"zhijian.classify.v1.ClassifyService",
                                "zhijian.extract.v1.ExtractService",
                                "zhijian.risk.v1.RiskService",
                                "zhijian.orchestrator.v1.OrchestratorService",
                                "zhijian.registry.v1.RegistryService"}
    classify = routes["/zhijian.classify.v1.ClassifyService/Classify"]
    assert (classify.service, classify.name) == ("zhijian.classify.v1.ClassifyService",
                                                 "Classify")


def test_stream_shapes_come_from_the_descriptors() -> None:
    routes = build_routes()
    streams = {method for method, route in routes.items() if route.server_streaming}
    assert streams == {"/zhijian.registry.v1.RegistryService/WatchDeployments",
                       "/zhijian.orchestrator.v1.OrchestratorService/WatchCase"}
    assert not any(route.client_streaming for route in routes.values())


def _file_with_options() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="routes_test.proto", package="t.v1",
                                              syntax="proto3")
    file.message_type.add(name="M")
    service = file.service.add(name="S")
    levels = descriptor_pb2.MethodOptions
    for name, level in (("Read", levels.NO_SIDE_EFFECTS), ("Put", levels.IDEMPOTENT),
                        ("Write", levels.IDEMPOTENCY_UNKNOWN), ("Plain", None)):
        method = service.method.add(name=name, input_type=".t.v1.M", output_type=".t.v1.M")
        if level is not None:
            method.options.idempotency_level = level
    service.method.add(name="Up", input_type=".t.v1.M", output_type=".t.v1.M",
                       client_streaming=True)
    return file


def test_only_methods_marked_idempotent_in_their_options_are_retried() -> None:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(_file_with_options().SerializeToString())
    routes = build_routes([pool.FindFileByName("routes_test.proto")])
    idempotent = {route.name for route in routes.values() if route.idempotent}
    assert idempotent == {"Read", "Put"}
    assert routes["/t.v1.S/Up"].client_streaming


def test_the_shipped_protos_mark_reads_and_inference_idempotent_and_writes_not() -> None:
    routes = build_routes()
    registry = "/zhijian.registry.v1.RegistryService/"
    for write in ("SuspendDeployment", "ApproveFiling", "CreateFiling", "RevokeToken"):
        assert not routes[registry + write].idempotent, write
    for read in ("GetFiling", "ListDeployments"):
        assert routes[registry + read].idempotent, read
