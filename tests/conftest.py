"""Shared test helpers. Integration fixtures live in tests/integration/conftest.py."""

import tempfile
from pathlib import Path

from zhijian.config import contain_environment

# Tests must never write to the home directory or phone home.
contain_environment(Path(tempfile.mkdtemp(prefix="zhijian-tests-")))
