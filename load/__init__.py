"""Load tests of the running platform through its gateways (Locust): ``python -m load``."""
