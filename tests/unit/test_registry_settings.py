"""Where the registry reads dataset files from, and how much of one, from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry.datasets import DEFAULT_MAX_BYTES
from registry.settings import RegistrySettings
from zhijian.config import ConfigError


def _settings(tmp_path: Path, **env: str) -> RegistrySettings:
    return RegistrySettings.from_env({"ZHIJIAN_HOME": str(tmp_path),
                                      "MLFLOW_TRACKING_URI": "http://127.0.0.1:5061", **env})


def test_the_defaults_are_the_seed_datasets_folder_and_the_mlflow_artifact_store(
        tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    home = tmp_path.resolve()
    # `zhijian up` writes the seed corpus's splits under datasets/seed and registers them.
    assert settings.dataset_roots == (home / "datasets", home / "mlflow" / "artifacts")
    assert settings.dataset_access.locate(str(home / "datasets" / "seed" / "seed-test.jsonl"))
    assert settings.dataset_max_bytes == DEFAULT_MAX_BYTES
    assert settings.dataset_read_workers == 2


def test_configured_roots_replace_the_defaults(tmp_path: Path) -> None:
    roots = os.pathsep.join(["/srv/corpora", " /data/shared/ ", ""])
    settings = _settings(tmp_path, ZHIJIAN_DATASET_ROOTS=roots,
                         ZHIJIAN_DATASET_MAX_BYTES="1048576", ZHIJIAN_DATASET_READ_WORKERS="4")
    assert settings.dataset_access.roots == ("/srv/corpora", "/data/shared")
    assert (settings.dataset_max_bytes, settings.dataset_read_workers) == (1048576, 4)


@pytest.mark.parametrize(("name", "value"), [
    ("ZHIJIAN_DATASET_ROOTS", "datasets"),
    ("ZHIJIAN_DATASET_ROOTS", f"/data{os.pathsep}relative/folder"),
    ("ZHIJIAN_DATASET_ROOTS", os.pathsep),
    ("ZHIJIAN_DATASET_MAX_BYTES", "0"),
    ("ZHIJIAN_DATASET_MAX_BYTES", "lots"),
    ("ZHIJIAN_DATASET_READ_WORKERS", "0"),
])
def test_bad_values_stop_the_start(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        _settings(tmp_path, **{name: value})
