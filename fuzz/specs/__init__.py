"""One module per service, each defining ``SPEC: fuzz.spec.ServiceSpec``; the harness
imports every module here and fails a run in which the gateways route a service that
has none."""
