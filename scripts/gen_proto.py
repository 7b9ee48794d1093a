"""Generate the Python code of zhijian's API contracts, offline and reproducibly.

    .venv/bin/python scripts/gen_proto.py            # regenerate zhijian/<service>/v1/*_pb2*.py[i]
    .venv/bin/python scripts/gen_proto.py --check    # exit 1 and list stale files, change nothing
    .venv/bin/python scripts/gen_proto.py --buf-deps # prepare .buf-deps/ for buf (see buf.yaml)
    .venv/bin/python scripts/gen_proto.py --lint     # --buf-deps, then `npx --no-install buf lint`

Every ``*.proto`` under ``proto/`` is compiled with grpc_tools.protoc (``--python_out``,
``--grpc_python_out``, ``--pyi_out``) into the repository root, so ``proto/zhijian/classify/v1/
classify_service.proto`` becomes ``zhijian/classify/v1/classify_service_pb2.py`` (plus
``_pb2_grpc.py`` and ``_pb2.pyi``). Imports resolve against ``proto/``, the ``.proto`` files of
the googleapis-common-protos package (google/api, google/rpc, ...) and grpcio-tools' bundled
well-known types; nothing is fetched from the network.

Generated files are never edited by hand. A run first deletes every generated module under
``zhijian/`` (``*_pb2.py``, ``*_pb2_grpc.py`` and their ``.pyi``) that the current protos no
longer produce, creates an empty ``__init__.py`` in each generated package directory that
lacks one, and writes only files whose bytes changed; output depends only on the protos and
the grpcio-tools version, so two runs give byte-identical trees.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE = "zhijian"  # top-level Python package the protos generate into
BUF_DEPS_DIR = ROOT / ".buf-deps"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def googleapis_include() -> Path:
    """Directory holding google/api/*.proto from the googleapis-common-protos package."""
    import google  # namespace package: one portion per distribution

    for portion in google.__path__:
        if (Path(portion) / "api" / "field_behavior.proto").is_file():
            return Path(portion).parent
    raise SystemExit(
        "gen_proto: google/api/field_behavior.proto not found; is googleapis-common-protos "
        "installed in this interpreter's environment?"
    )


def wkt_include() -> Path:
    """grpcio-tools' bundled include directory (google/protobuf/*.proto)."""
    import grpc_tools

    path = Path(grpc_tools.__file__).parent / "_proto"
    if not (path / "google" / "protobuf" / "timestamp.proto").is_file():
        raise SystemExit(f"gen_proto: well-known types not found under {path}")
    return path


def proto_files() -> list[str]:
    files = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto"))
    if not files:
        raise SystemExit(f"gen_proto: no .proto files under {PROTO_DIR}")
    outside = [f for f in files if not f.startswith(PACKAGE + "/")]
    if outside:
        raise SystemExit(f"gen_proto: protos outside proto/{PACKAGE}/: {outside}")
    return files


def is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


def generate(out: Path) -> dict[str, bytes]:
    """Compile every proto into ``out``; return {posix path relative to out: content}."""
    files = proto_files()
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR.relative_to(ROOT).as_posix()}",
        f"--proto_path={googleapis_include()}",
        f"--proto_path={wkt_include()}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--pyi_out={out}",
        *(f"proto/{f}" for f in files),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"gen_proto: protoc failed (exit {proc.returncode})")
    result: dict[str, bytes] = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            result[path.relative_to(out).as_posix()] = path.read_bytes()
    unexpected = [p for p in result if not is_generated(Path(p))]
    if unexpected:
        raise SystemExit(f"gen_proto: protoc wrote unexpected files: {unexpected}")
    return result


def package_dirs(generated: dict[str, bytes]) -> list[str]:
    """Package directories below zhijian/ that generated modules live in (and their parents)."""
    dirs: set[str] = set()
    for rel in generated:
        parent = Path(rel).parent
        while parent.as_posix() != PACKAGE and parent.as_posix() != ".":
            dirs.add(parent.as_posix())
            parent = parent.parent
    return sorted(dirs)


def existing_generated() -> list[str]:
    base = ROOT / PACKAGE
    if not base.is_dir():
        return []
    return sorted(
        p.relative_to(ROOT).as_posix()
        for p in base.rglob("*")
        if p.is_file() and is_generated(p) and "__pycache__" not in p.parts
    )


def stale_files(generated: dict[str, bytes]) -> list[str]:
    """Files in the repository that differ from a fresh generation (missing, changed, extra)."""
    stale = []
    for rel, content in generated.items():
        path = ROOT / rel
        if not path.is_file():
            stale.append(f"{rel} (missing)")
        elif path.read_bytes() != content:
            stale.append(f"{rel} (out of date)")
    for rel in existing_generated():
        if rel not in generated:
            stale.append(f"{rel} (no longer generated)")
    for d in [PACKAGE, *package_dirs(generated)]:
        if not (ROOT / d / "__init__.py").is_file():
            stale.append(f"{d}/__init__.py (missing)")
    return sorted(stale)


def remove_if_empty_package(directory: Path) -> None:
    """Remove a generated package directory left with only an empty __init__.py."""
    base = ROOT / PACKAGE
    while directory != base and base in directory.parents and directory.is_dir():
        entries = [e for e in directory.iterdir() if e.name != "__pycache__"]
        init = directory / "__init__.py"
        if entries == [init] and init.stat().st_size == 0:
            init.unlink()
            entries = []
        if entries:
            return
        shutil.rmtree(directory)
        directory = directory.parent


def write_tree(generated: dict[str, bytes]) -> list[str]:
    changed = []
    for rel in existing_generated():
        if rel not in generated:
            (ROOT / rel).unlink()
            changed.append(f"deleted {rel}")
            remove_if_empty_package((ROOT / rel).parent)
    init = ROOT / PACKAGE / "__init__.py"
    if not init.exists():
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_bytes(b"")
        changed.append(f"created {PACKAGE}/__init__.py")
    for d in package_dirs(generated):
        init = ROOT / d / "__init__.py"
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_bytes(b"")
            changed.append(f"created {d}/__init__.py")
    for rel, content in generated.items():
        path = ROOT / rel
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        changed.append(f"wrote {rel}")
    return changed


def prepare_buf_deps() -> Path:
    """Mirror the third-party .proto files into .buf-deps/, the second module of buf.yaml."""
    wanted: dict[Path, Path] = {}
    for include in (googleapis_include(), wkt_include()):
        for src in sorted((include / "google").rglob("*.proto")):
            wanted.setdefault(src.relative_to(include), src)
    BUF_DEPS_DIR.mkdir(exist_ok=True)
    for rel, src in wanted.items():
        dst = BUF_DEPS_DIR / rel
        content = src.read_bytes()
        if dst.is_file() and dst.read_bytes() == content:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(content)
    for path in sorted(BUF_DEPS_DIR.rglob("*"), reverse=True):
        rel = path.relative_to(BUF_DEPS_DIR)
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    (BUF_DEPS_DIR / "README").write_text(
        "Generated by scripts/gen_proto.py --buf-deps from googleapis-common-protos and\n"
        "grpcio-tools (see buf.yaml). Do not edit or commit.\n"
    )
    return BUF_DEPS_DIR


def run_buf_lint(extra: list[str]) -> int:
    prepare_buf_deps()
    if not (ROOT / "node_modules" / ".bin" / "buf").exists():
        print(
            "gen_proto: buf is not installed; run `npm ci` in the repository root", file=sys.stderr
        )
        return 2
    # buf caches under ~/.cache unless told otherwise; keep it in the checkout.
    env = {"BUF_CACHE_DIR": str(ROOT / "node_modules" / ".cache" / "buf"), **os.environ}
    return subprocess.run(["npx", "--no-install", "buf", "lint", *extra], cwd=ROOT,
                          env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="list stale generated files, exit 1 if any"
    )
    mode.add_argument("--buf-deps", action="store_true", help="only prepare .buf-deps/ for buf")
    mode.add_argument("--lint", action="store_true", help="prepare .buf-deps/ and run buf lint")
    args, extra = parser.parse_known_args(argv)
    if extra and not args.lint:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    if args.buf_deps:
        print(f"gen_proto: prepared {prepare_buf_deps().relative_to(ROOT)}/")
        return 0
    if args.lint:
        return run_buf_lint(extra)

    with tempfile.TemporaryDirectory(prefix="zhijian-proto-") as tmp:
        generated = generate(Path(tmp))
    if args.check:
        stale = stale_files(generated)
        if stale:
            print(
                "gen_proto: generated code is stale; run `.venv/bin/python scripts/gen_proto.py`:"
            )
            for line in stale:
                print(f"  {line}")
            return 1
        print(f"gen_proto: {len(generated)} generated files are up to date")
        return 0
    changed = write_tree(generated)
    for line in changed:
        print(f"gen_proto: {line}")
    protos = len(proto_files())
    print(f"gen_proto: {len(generated)} files from {protos} protos, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
