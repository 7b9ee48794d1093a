"""Shared test helpers. Integration fixtures live in tests/integration/conftest.py."""

import os

# Tests must never write to the home directory or phone home.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
