"""zhijian kernel: what every service shares (configuration, gRPC bootstrap, errors,
telemetry, process supervision) and the CLI. Nothing domain-specific lives here; the
``zhijian.<service>.v1`` subpackages are code generated from ``proto/``."""

__version__ = "0.1.0"
