import pytest

from services.classify.service import SPEC as CLASSIFY
from services.classify.settings import ClassifySettings
from zhijian.config import ConfigError, HomeLayout, ServerSettings, zhijian_home
from zhijian.governed_service import ServiceProcess


def test_home_defaults_to_the_checkout_and_follows_the_environment(tmp_path):
    assert zhijian_home({}).name == ".zhijian"
    assert zhijian_home({"ZHIJIAN_HOME": str(tmp_path)}) == tmp_path.resolve()


def test_layout_keeps_everything_under_the_root(tmp_path):
    layout = HomeLayout(tmp_path).create()
    for path in (layout.mlflow_db, layout.bentoml_home, layout.spans_file, layout.state_file):
        assert tmp_path in path.parents


def test_server_settings_read_service_prefixed_and_standard_variables():
    settings = ServerSettings.from_env("classify", default_port=1, default_metrics_port=2, env={
        "ZHIJIAN_CLASSIFY_GRPC_PORT": "7001", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317",
        "ZHIJIAN_MAX_MESSAGE_BYTES": "1024"})
    assert settings.port == 7001 and settings.metrics_port == 2
    assert settings.otlp_endpoint == "http://x:4317"
    assert settings.max_message_bytes == 1024
    assert settings.service_name == "zhijian-classify"


def test_malformed_numbers_are_configuration_errors():
    with pytest.raises(ConfigError, match="ZHIJIAN_CLASSIFY_GRPC_PORT"):
        ServerSettings.from_env("classify", default_port=1, default_metrics_port=2,
                                env={"ZHIJIAN_CLASSIFY_GRPC_PORT": "abc"})


def test_classify_takes_its_registry_from_configuration_and_no_network_domain(tmp_path):
    # Which version serves is the registry's decision, and the network domain is each
    # call's (asserted by its gateway), so neither is configuration of the process.
    token = tmp_path / "classify.jwt"
    token.write_text("t")
    base = {"ZHIJIAN_IDENTITY_TOKEN_FILE": str(token)}
    with pytest.raises(ConfigError, match="ZHIJIAN_IDENTITY_TOKEN_FILE"):
        ServiceProcess.for_spec(CLASSIFY, {})
    process = ServiceProcess.for_spec(CLASSIFY, {**base,
                                                 "ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT": "4000",
                                                 "ZHIJIAN_REGISTRY_TARGET": "127.0.0.1:7"})
    settings = ClassifySettings.from_env({})
    for configured in (process, settings):
        assert not hasattr(configured, "model_version")
        assert not hasattr(configured, "network_domain")
    assert process.model_server_url == "http://127.0.0.1:4000"
    assert process.registry_target == "127.0.0.1:7"
    assert (process.name, process.model_name) == ("classify", settings.model_name)
