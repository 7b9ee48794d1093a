"""Generate the Python code of zhijian's API contracts, offline and reproducibly.

    .venv/bin/python scripts/gen_proto.py          # regenerate zhijian/<service>/v1/*_pb2*.py[i]
                                                   # and refresh proto/third_party/
    .venv/bin/python scripts/gen_proto.py --check  # exit 1 and list stale files, change nothing
    .venv/bin/python scripts/gen_proto.py --lint   # `npx --no-install buf lint` (see buf.yaml)

Every ``*.proto`` under ``proto/zhijian/`` is compiled with grpc_tools.protoc (``--python_out``,
``--grpc_python_out``, ``--pyi_out``) into the repository root, so ``proto/zhijian/classify/v1/
classify_service.proto`` becomes ``zhijian/classify/v1/classify_service_pb2.py`` (plus
``_pb2_grpc.py`` and ``_pb2.pyi``). Imports resolve against ``proto/``, the ``.proto`` files of
the googleapis-common-protos package (google/api, google/rpc, ...) and grpcio-tools' bundled
well-known types; nothing is fetched from the network.

The contracts ship with the third-party protos they need, so that a client in any language
builds from ``proto/`` alone: ``proto/third_party/`` holds unmodified copies, taken from the
googleapis-common-protos package, of every non-well-known .proto the contracts import
(transitively, as protoc resolves them) plus ``google/rpc/error_details.proto``, with that
package's license and a README. No code is generated from them (the package provides their
Python modules), and protoc still reads them from the package, so the copies are checked
against it byte for byte like generated code.

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
THIRD_PARTY_DIR = PROTO_DIR / "third_party"
# Imported by no contract, but it defines what every error's google.rpc.Status details hold
# (ErrorInfo, BadRequest, RetryInfo, see zhijian/errors.py): clients need it to read errors.
THIRD_PARTY_EXTRA = ("google/rpc/error_details.proto",)
# protoc, buf and protobufjs (@grpc/proto-loader) all bundle the well-known types.
WELL_KNOWN_PREFIX = "google/protobuf/"
GOOGLEAPIS_DIST = "googleapis-common-protos"
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
    """The contracts: every .proto under proto/ except the shipped third-party ones."""
    files = sorted(p.relative_to(PROTO_DIR).as_posix() for p in PROTO_DIR.rglob("*.proto")
                   if THIRD_PARTY_DIR not in p.parents)
    if not files:
        raise SystemExit(f"gen_proto: no .proto files under {PROTO_DIR}")
    outside = [f for f in files if not f.startswith(PACKAGE + "/")]
    if outside:
        raise SystemExit(f"gen_proto: protos outside proto/{PACKAGE}/: {outside}")
    return files


def is_generated(path: Path) -> bool:
    return path.name.endswith(GENERATED_SUFFIXES)


def protoc(*args: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR.relative_to(ROOT).as_posix()}",
        f"--proto_path={googleapis_include()}",
        f"--proto_path={wkt_include()}",
        *args,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"gen_proto: protoc failed (exit {proc.returncode})")


def generate(out: Path) -> dict[str, bytes]:
    """Compile every proto into ``out``; return {posix path relative to out: content}."""
    protoc(f"--python_out={out}", f"--grpc_python_out={out}", f"--pyi_out={out}",
           *(f"proto/{f}" for f in proto_files()))
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


def third_party_protos() -> list[str]:
    """Every non-well-known third-party .proto the contracts (and THIRD_PARTY_EXTRA) need.

    protoc resolves the imports, so the set is exactly what a compiler of proto/ asks for,
    however deep, and no file it does not."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory(prefix="zhijian-proto-deps-") as tmp:
        out = Path(tmp) / "deps.binpb"
        protoc(f"--descriptor_set_out={out}", "--include_imports",
               *(f"proto/{f}" for f in proto_files()), *THIRD_PARTY_EXTRA)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return sorted(f.name for f in fds.file
                  if not f.name.startswith((PACKAGE + "/", WELL_KNOWN_PREFIX)))


def googleapis_license() -> tuple[str, bytes]:
    """Version and LICENSE text of the googleapis-common-protos distribution."""
    from importlib import metadata

    dist = metadata.distribution(GOOGLEAPIS_DIST)
    for file in dist.files or ():
        if file.name == "LICENSE":
            return dist.version, Path(str(dist.locate_file(file))).read_bytes()
    raise SystemExit(f"gen_proto: {GOOGLEAPIS_DIST} {dist.version} ships no LICENSE file")


def third_party_readme(version: str, protos: list[str]) -> bytes:
    listing = "".join(f"- `{p}`\n" for p in protos)
    return f"""# Third-party protos of zhijian's contracts

Unmodified copies of Google's common protos (<https://github.com/googleapis/googleapis>),
Copyright Google LLC, under the Apache License 2.0: see `LICENSE` here and each file's
header. They come from the Python package {GOOGLEAPIS_DIST} {version} (pinned in
requirements.lock) and are refreshed by `make proto` (`scripts/gen_proto.py`); do not edit
them: `make proto-check` fails if they differ from that package's.

They are the .proto files that the contracts under `proto/zhijian/` import, directly or
through one another, plus `google/rpc/error_details.proto`, which defines what the
`google.rpc.Status` details of every zhijian error hold (`ErrorInfo`, `BadRequest`,
`RetryInfo`). Google's well-known types (`google/protobuf/*.proto`) are not here:
protoc, buf and protobufjs / `@grpc/proto-loader` bundle them.

To build a client, give the compiler two include paths, `proto/` and `proto/third_party/`,
e.g. `protoc -I proto -I proto/third_party ...` or `@grpc/proto-loader`'s
`includeDirs: ["proto", "proto/third_party"]` (tests/node/classify_client.mjs). Python
clients need none of this: the package provides the `google.api` and `google.rpc` modules.

{listing}""".encode()


def third_party_tree() -> dict[str, bytes]:
    """What proto/third_party/ should hold: {posix path relative to it: content}."""
    protos = third_party_protos()
    include = googleapis_include()
    missing = [p for p in protos if not (include / p).is_file()]
    if missing:
        raise SystemExit(f"gen_proto: imported but not in {GOOGLEAPIS_DIST}: {missing}")
    version, license_text = googleapis_license()
    tree = {p: (include / p).read_bytes() for p in protos}
    tree["LICENSE"] = license_text
    tree["README.md"] = third_party_readme(version, protos)
    return tree


def existing_third_party() -> list[str]:
    if not THIRD_PARTY_DIR.is_dir():
        return []
    return sorted(p.relative_to(THIRD_PARTY_DIR).as_posix()
                  for p in THIRD_PARTY_DIR.rglob("*") if p.is_file())


def stale_third_party(tree: dict[str, bytes]) -> list[str]:
    base = THIRD_PARTY_DIR.relative_to(ROOT).as_posix()
    stale = []
    for rel, content in tree.items():
        path = THIRD_PARTY_DIR / rel
        if not path.is_file():
            stale.append(f"{base}/{rel} (missing)")
        elif path.read_bytes() != content:
            stale.append(f"{base}/{rel} (out of date)")
    stale += [f"{base}/{rel} (not shipped)" for rel in existing_third_party()
              if rel not in tree]
    return stale


def write_third_party(tree: dict[str, bytes]) -> list[str]:
    base = THIRD_PARTY_DIR.relative_to(ROOT).as_posix()
    changed = []
    for rel in existing_third_party():
        if rel not in tree:
            (THIRD_PARTY_DIR / rel).unlink()
            changed.append(f"deleted {base}/{rel}")
    if THIRD_PARTY_DIR.is_dir():
        for path in sorted(THIRD_PARTY_DIR.rglob("*"), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rel, content in tree.items():
        path = THIRD_PARTY_DIR / rel
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        changed.append(f"wrote {base}/{rel}")
    return changed


def run_buf_lint(extra: list[str]) -> int:
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
    mode.add_argument("--lint", action="store_true", help="run buf lint on proto/")
    args, extra = parser.parse_known_args(argv)
    if extra and not args.lint:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    if args.lint:
        return run_buf_lint(extra)

    with tempfile.TemporaryDirectory(prefix="zhijian-proto-") as tmp:
        generated = generate(Path(tmp))
    third_party = third_party_tree()
    if args.check:
        stale = stale_files(generated) + stale_third_party(third_party)
        if stale:
            print("gen_proto: generated or shipped files are stale; run "
                  "`.venv/bin/python scripts/gen_proto.py`:")
            for line in stale:
                print(f"  {line}")
            return 1
        print(f"gen_proto: {len(generated)} generated files and {len(third_party)} files of "
              f"{THIRD_PARTY_DIR.relative_to(ROOT)}/ are up to date")
        return 0
    changed = write_tree(generated) + write_third_party(third_party)
    for line in changed:
        print(f"gen_proto: {line}")
    protos = len(proto_files())
    print(f"gen_proto: {len(generated)} files from {protos} protos and {len(third_party)} "
          f"third-party files, {len(changed)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
