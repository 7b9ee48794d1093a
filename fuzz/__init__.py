"""Fuzzing of every zhijian service through the gateways (``python -m fuzz``, ``make fuzz``).

The engine (``generate``, ``wire``, ``credentials``, ``engine``, ``harness``) is generic:
requests are generated from the proto descriptors. Each service describes the little
the descriptors cannot say in a spec module under ``fuzz/specs/`` (see ``fuzz.spec``).
This package imports only the kernel and generated code, never a service, the
registry or the gateway: it sees the platform as an outside caller does.
"""
