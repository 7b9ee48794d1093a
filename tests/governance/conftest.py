"""Fixtures of the governance tests (see harness.py)."""

from governance.harness import harness, mlflow_store

__all__ = ["harness", "mlflow_store"]
