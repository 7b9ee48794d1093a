"""What a model version carries of its package's code (zhijian.model_code)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zhijian.model_code import module_closure, stage_model_code


@pytest.fixture()
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "src"
    files = {
        "acme/__init__.py": "",
        "acme/svc/__init__.py": "",
        "acme/svc/pyfunc.py": "import json\nfrom acme.svc.model import Model\nfrom . import util\n",
        "acme/svc/model.py": "from .features import featurize\nimport numpy\n",
        "acme/svc/features.py": "X = 1\n",
        "acme/svc/util.py": "",
        "acme/svc/servicer.py": "import acme.svc.model\n",  # not imported by the model
        "acme/other.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "acme" or m.startswith("acme.")]:
        del sys.modules[name]


def test_the_closure_follows_absolute_and_relative_imports_within_the_package(package):
    assert module_closure("acme.svc.pyfunc", "acme.svc") == [
        "acme.svc", "acme.svc.features", "acme.svc.model", "acme.svc.pyfunc", "acme.svc.util"]


def test_staged_code_holds_the_closure_and_its_package_inits_only(package, tmp_path):
    paths = stage_model_code("acme.svc.pyfunc", "acme.svc", tmp_path / "code")
    assert paths == [str(tmp_path / "code" / "acme")]
    staged = sorted(str(p.relative_to(tmp_path / "code"))
                    for p in (tmp_path / "code").rglob("*.py"))
    assert staged == ["acme/__init__.py", "acme/svc/__init__.py", "acme/svc/features.py",
                      "acme/svc/model.py", "acme/svc/pyfunc.py", "acme/svc/util.py"]


def test_an_entry_outside_the_package_is_refused(package, tmp_path):
    with pytest.raises(ValueError):
        stage_model_code("acme.other", "acme.svc", tmp_path / "code")
