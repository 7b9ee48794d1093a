"""The code a registered model version needs, logged with it (MLflow ``code_paths``).

A pickled model refers to its classes by module path (``services.classify.model``), so a
version logged without its code loads only where the project's ``services`` package is
importable, as the same modules. Logged with :func:`stage_model_code`, the version
carries the modules it imports from its own package (found by following the imports of
its entry module) under ``code/``; MLflow puts that folder on ``sys.path`` when it loads
the version, so it loads where ``services`` is absent or has moved — a validation
worker, another host. Where the project's modules are already imported (the model
server), those serve; the copy is for where they are not.

The copied files are artifacts like any other: the filing pins their hashes, so the
code a version runs is the code that was validated.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
from pathlib import Path


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{package} is not a package")
    return Path(next(iter(spec.submodule_search_locations)))


def _source(module: str, package: str, root: Path) -> Path:
    """The file of ``module`` of ``package`` (found on disk, never imported: importing a
    module to find it would run it)."""
    relative = Path(*module.split(".")[package.count(".") + 1:])
    for candidate in (root / relative / "__init__.py", (root / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    raise ValueError(f"{module} is not a Python source module of {package}")


def _imported(module: str, path: Path) -> set[str]:
    """Modules ``path`` imports, absolute names (relative imports resolved)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            # ``from pkg import sub`` may name a submodule.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_closure(entry: str, package: str) -> list[str]:
    """``entry`` and every module of ``package`` it imports, directly or not, in order."""
    root = _package_dir(package)
    seen: dict[str, None] = {}
    todo = [entry]
    while todo:
        module = todo.pop()
        if module in seen or not (module == package or module.startswith(package + ".")):
            continue
        try:
            path = _source(module, package, root)
        except ValueError:
            continue  # a name imported from a module, not a module of its own
        seen[module] = None
        parents = [module.rsplit(".", i)[0] for i in range(1, module.count(".") + 1)]
        todo.extend(sorted(_imported(module, path) | set(parents), reverse=True))
    return sorted(seen)


def stage_model_code(entry: str, package: str, into: Path) -> list[str]:
    """Copy ``entry``'s closure within ``package`` (with the ``__init__.py`` of every
    package on the way) under ``into``; the ``code_paths`` to log the version with."""
    top = package.split(".")[0]
    modules = module_closure(entry, package)
    if not modules:
        raise ValueError(f"{entry} is not a module of {package}")
    # The packages above ``package`` come as their ``__init__.py`` only (an empty one
    # for a namespace package, so the copy imports the same way).
    above = [".".join(package.split(".")[:i]) for i in range(1, package.count(".") + 1)]
    root = _package_dir(package)
    for module in above:
        target = into / Path(*module.split(".")) / "__init__.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        source = _package_dir(module) / "__init__.py"
        target.write_bytes(source.read_bytes() if source.is_file() else b"")
    for module in modules:
        source = _source(module, package, root)
        relative = Path(*module.split("."))
        target = into / (relative / "__init__.py" if source.name == "__init__.py"
                         else relative.with_suffix(".py"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return [str(into / top)]
