"""The layering the platform relies on, read from the source: the kernel (``zhijian/``)
imports no component it serves, the registry and the gateway import no service, and no
service imports another. Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOT_FOR_THE_KERNEL = {"services", "registry", "gateway", "bench", "fuzz", "load", "tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(folder: str, forbidden: set[str], *, own: str | None = None) -> list[str]:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] in forbidden or (
                    own is not None and parts[0] == "services" and len(parts) > 1
                    and parts[1] != own):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def test_the_kernel_imports_nothing_it_serves() -> None:
    assert violations("zhijian", NOT_FOR_THE_KERNEL) == []


@pytest.mark.parametrize("component", ["registry", "gateway"])
def test_platform_components_import_no_service(component: str) -> None:
    assert violations(component, {"services", "bench", "fuzz", "load", "tests"}) == []


def test_services_do_not_import_each_other() -> None:
    services = sorted(p.name for p in (ROOT / "services").iterdir()
                      if (p / "__init__.py").exists())
    assert services, "no service found"
    bad = [v for name in services
           for v in violations(f"services/{name}", {"registry", "gateway", "bench", "fuzz",
                                                    "load", "tests"}, own=name)]
    assert bad == []


def test_the_rule_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from services.classify import model\n    import gateway\n")
    assert imported_modules(sample) == [(2, "services.classify"), (3, "gateway")]
